"""MultiView that crops on the CPU and leaves each view's flip and colour to the training device.

mmpretrain's ``MultiView`` runs a student's whole distortion once per view in the loader, and
the colour jitter (three PIL blends per view) is most of what each extra view costs there.
:class:`DeferredMultiView` takes the same ``transforms`` (the one description of a student's
distortion that the solo configs use as is) and splits each pipeline: the leading transforms
(decode is before it; crops, resizes) run here per view, and the trailing ``RandomFlip`` and
``ColorJitter`` only *draw* their random parameters here, with those transforms' own
methods, in the order the CPU pipeline would draw them. The parameters travel with the
sample as ``view_distortion``, and ``MultiViewClsDataPreprocessor`` applies them batched on
the device (:func:`~kdcl_mm.datasets.transforms.view_distortion.apply_view_distortion`).

So the draws come from the generators the sampler seeds per sample, exact resume holds, and
a view is the CPU pipeline's view: the same parameters under the same seed, applied to the
pixel as PIL does.
"""

import copy
from typing import List, Sequence, Union

from mmcv.transforms import BaseTransform
from mmpretrain.datasets.transforms import ColorJitter, MultiView

from kdcl_mm.registry import TRANSFORMS

from .view_distortion import ViewDistortionDraw

DEFERRED_TYPES = ('RandomFlip', 'ColorJitter')
#: Where the drawn parameters travel: pack them with
#: ``dict(type='PackInputs', algorithm_keys=[VIEW_DISTORTION_KEY])``.
VIEW_DISTORTION_KEY = 'view_distortion'
#: The transforms that give one view per student: MultiView, and DeferredMultiView (a MultiView
#: whose flips and colour run on the device).
MULTI_VIEW_TYPES = ('MultiView', 'DeferredMultiView')


def _type_name(transform) -> str:
    if isinstance(transform, dict):
        return str(transform.get('type'))
    return type(transform).__name__


def split_deferred(transforms: Sequence) -> tuple:
    """(transforms run per view on the CPU, trailing flip/colour transforms to defer)."""
    transforms = list(transforms)
    start = len(transforms)
    while start > 0 and _type_name(transforms[start - 1]).split('.')[-1] in DEFERRED_TYPES:
        start -= 1
    return transforms[:start], transforms[start:]


def _build_deferred(cfgs: Sequence, where: str) -> List[BaseTransform]:
    built = [TRANSFORMS.build(c) if isinstance(c, dict) else c for c in cfgs]
    kinds = [_type_name(t) for t in built]
    for kind in set(kinds):
        if kinds.count(kind) > 1:
            raise ValueError(
                f'{where}: {kinds.count(kind)} trailing {kind} transforms; DeferredMultiView '
                f'applies at most one {kind} per view on the device. Merge them, or use MultiView.'
            )
    for t in built:
        if isinstance(t, ColorJitter):
            if t.hue is not None:
                raise ValueError(
                    f'{where}: ColorJitter(hue={t.hue}) cannot be deferred: the device applies '
                    'brightness, contrast and saturation only. Drop hue, or use MultiView (note '
                    "that mmcv 2.1's adjust_hue overflows on numpy 2)."
                )
            if t.backend != 'pillow':
                raise ValueError(
                    f"{where}: ColorJitter(backend='{t.backend}'): the device reproduces the "
                    "'pillow' backend (ColorJitter's default). Use it, or use MultiView."
                )
    return built


@TRANSFORMS.register_module()
class DeferredMultiView(MultiView):
    """``MultiView`` whose trailing ``RandomFlip``/``ColorJitter`` run on the training device.

    Args:
        transforms: as ``MultiView``: one list of transforms per group of views.
        num_views: as ``MultiView``.

    Adds ``results['view_distortion']``: a (num_views, 7) float64 tensor, one row per view
    (layout in :mod:`~kdcl_mm.datasets.transforms.view_distortion`). Follow it with
    ``dict(type='PackInputs', algorithm_keys=['view_distortion'])`` and train with
    ``MultiViewClsDataPreprocessor``, which applies the rows before normalising.
    """

    def __init__(self, transforms: List[List[Union[dict, BaseTransform]]], num_views):
        splits = [split_deferred(t) for t in transforms]
        super().__init__([cpu for cpu, _ in splits], num_views)
        draws = [
            ViewDistortionDraw(_build_deferred(deferred, f'DeferredMultiView.transforms[{i}]'))
            for i, (_, deferred) in enumerate(splits)
        ]
        self.draws = [draw for draw, n in zip(draws, self.num_views) for _ in range(n)]

    def transform(self, results: dict) -> dict:
        views, rows = [], []
        for pipeline, draw in zip(self.transforms, self.draws):
            # Per view in the CPU pipeline's order: its crop's draws, then its flip's and
            # colour's, so the same seed gives the same parameters as MultiView would.
            views.append(pipeline(copy.deepcopy(results))['img'])
            rows.append(draw())
        results['img'] = views
        results[VIEW_DISTORTION_KEY] = ViewDistortionDraw.stack(rows)
        return results

    def __repr__(self) -> str:
        return f'{type(self).__name__}(num_views={self.num_views}, deferred={self.draws[0]})'
