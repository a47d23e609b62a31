from .deferred_multi_view import (
    MULTI_VIEW_TYPES,
    VIEW_DISTORTION_KEY,
    DeferredMultiView,
    split_deferred,
)
from .view_distortion import ViewDistortionDraw, apply_view_distortion

__all__ = [
    'MULTI_VIEW_TYPES',
    'VIEW_DISTORTION_KEY',
    'DeferredMultiView',
    'ViewDistortionDraw',
    'apply_view_distortion',
    'split_deferred',
]
