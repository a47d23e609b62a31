"""One normalised view per student, with ClsDataPreprocessor's label handling."""

import numpy as np
import torch
from mmpretrain.models.utils import ClsDataPreprocessor
from mmpretrain.registry import MODELS


@MODELS.register_module()
class MultiViewClsDataPreprocessor(ClsDataPreprocessor):
    """``ClsDataPreprocessor`` applied to each view produced by ``MultiView``.

    Inputs may be a batch tensor (one view shared by all students), a list of V batch
    tensors (``default_collate``) or a list of V lists of B tensors (``pseudo_collate``:
    both collates transpose the per-sample view lists to view-major order). Batch augments
    (Mixup/CutMix) must mix every view the same way, otherwise the students would be taught
    different labels: the random state is replayed for each view so that they draw the same
    permutation, lambda and box.
    """

    def forward(self, data: dict, training: bool = False) -> dict:
        views = _split_views(data['inputs'])
        if views is None:
            return super().forward(data, training)
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


def _split_views(inputs):
    """List of V view batches, or None when the batch holds a single view."""
    if isinstance(inputs, torch.Tensor):
        return None
    first = inputs[0]
    if isinstance(first, torch.Tensor):
        # default_collate: V tensors of (B, C, H, W); pseudo_collate of one view: B (C, H, W).
        return list(inputs) if first.dim() == 4 else None
    return list(inputs)  # pseudo_collate: V lists of B (C, H, W) tensors
