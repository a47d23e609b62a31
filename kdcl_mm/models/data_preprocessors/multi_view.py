"""One normalised view per student, with ClsDataPreprocessor's label handling."""

from typing import List, Optional

import numpy as np
import torch
from mmpretrain.models.utils import ClsDataPreprocessor

from kdcl_mm.datasets.transforms import VIEW_DISTORTION_KEY, apply_view_distortion
from kdcl_mm.registry import MODELS


@MODELS.register_module()
class MultiViewClsDataPreprocessor(ClsDataPreprocessor):
    """``ClsDataPreprocessor`` applied to each view produced by ``MultiView``.

    Inputs may be a batch tensor (one view shared by all students), a list of V batch
    tensors (``default_collate``) or a list of V lists of B tensors (``pseudo_collate``:
    both collates transpose the per-sample view lists to view-major order). Batch augments
    (Mixup/CutMix) must mix every view the same way, otherwise the students would be taught
    different labels: the random state is replayed for each view so that they draw the same
    permutation, lambda and box.

    Views from ``DeferredMultiView`` carry their flip and colour jitter as
    ``data_samples[i].view_distortion``: they are applied here, batched on the device, to
    the raw pixels, before anything else (as the CPU pipeline applies them before packing).

    Args:
        deferred_distortion: the training pipeline defers its views' flip and colour jitter
            here (``DeferredMultiView``): a multi-view training batch that arrives without
            their ``view_distortion`` rows (a ``PackInputs`` without
            ``algorithm_keys=['view_distortion']``) is an error instead of views that train
            undistorted. The ImageNet KDCL recipes set it.
        **kwargs: ``ClsDataPreprocessor``'s.
    """

    def __init__(self, *args, deferred_distortion: bool = False, **kwargs):
        super().__init__(*args, **kwargs)
        self.deferred_distortion = bool(deferred_distortion)

    def forward(self, data: dict, training: bool = False) -> dict:
        views = _split_views(data['inputs'])
        if views is None:
            return super().forward(data, training)
        rows = _view_distortion_rows(data.get('data_samples'), len(views))
        if rows is None and training and self.deferred_distortion:
            raise ValueError(
                f'MultiViewClsDataPreprocessor(deferred_distortion=True) got {len(views)} '
                f'views without their {VIEW_DISTORTION_KEY!r} rows, so they would train without '
                "their flip and colour jitter: the pipeline's PackInputs drops them. Use "
                f"dict(type='PackInputs', algorithm_keys=['{VIEW_DISTORTION_KEY}']) after "
                'DeferredMultiView.'
            )
        if rows is not None:
            views = [self._distort(view, rows[:, v]) for v, view in enumerate(views)]
        np_state, torch_state = np.random.get_state(), torch.get_rng_state()
        cuda_state = torch.cuda.get_rng_state_all() if torch.cuda.is_available() else None
        processed = []
        for view in views:
            np.random.set_state(np_state)
            torch.set_rng_state(torch_state)
            if cuda_state is not None:
                torch.cuda.set_rng_state_all(cuda_state)
            out = super().forward({**data, 'inputs': view}, training)
            processed.append(out['inputs'])
        return {'inputs': processed, 'data_samples': out['data_samples']}

    def _distort(self, view, rows: torch.Tensor):
        view = self.cast_data(view)
        if isinstance(view, torch.Tensor):
            return apply_view_distortion(view, rows)
        if len({tuple(img.shape) for img in view}) == 1:  # pseudo_collate of equal crops
            return list(apply_view_distortion(torch.stack(view), rows))
        return [apply_view_distortion(img[None], row[None])[0] for img, row in zip(view, rows)]


def _split_views(inputs):
    """List of V view batches, or None when the batch holds a single view."""
    if isinstance(inputs, torch.Tensor):
        return None
    first = inputs[0]
    if isinstance(first, torch.Tensor):
        # default_collate: V tensors of (B, C, H, W); pseudo_collate of one view: B (C, H, W).
        return list(inputs) if first.dim() == 4 else None
    return list(inputs)  # pseudo_collate: V lists of B (C, H, W) tensors


def _view_distortion_rows(data_samples: Optional[List], num_views: int) -> Optional[torch.Tensor]:
    """(B, V, ROW_SIZE) parameters recorded by DeferredMultiView, or None."""
    if not data_samples or VIEW_DISTORTION_KEY not in data_samples[0]:
        return None
    rows = torch.stack([s.get(VIEW_DISTORTION_KEY) for s in data_samples])
    if rows.size(1) != num_views:
        raise ValueError(
            f'data_samples carry view_distortion for {rows.size(1)} views but the batch has '
            f'{num_views}: the views and their parameters must come from the same '
            'DeferredMultiView.'
        )
    return rows
