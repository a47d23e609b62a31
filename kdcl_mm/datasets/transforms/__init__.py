from .deferred_multi_view import VIEW_DISTORTION_KEY, DeferredMultiView, split_deferred
from .view_distortion import ViewDistortionDraw, apply_view_distortion

__all__ = [
    'VIEW_DISTORTION_KEY',
    'DeferredMultiView',
    'ViewDistortionDraw',
    'apply_view_distortion',
    'split_deferred',
]
