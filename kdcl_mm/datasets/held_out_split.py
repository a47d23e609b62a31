"""A deterministic held-out split carved from a training set (for GeneralSoftTarget)."""

import numpy as np
from torch.utils.data import Dataset

from kdcl_mm.registry import DATASETS


@DATASETS.register_module()
class HeldOutSplit(Dataset):
    """Either the training part or the held-out part of ``dataset``.

    The same ``ratio`` and ``seed`` always give the same two disjoint parts, so the
    train dataloader (``part='train'``) and the held-out dataloader of
    ``GeneralWeightsHook`` (``part='heldout'``, usually with the test pipeline) never
    share a sample.
    """

    def __init__(self, dataset: dict, part: str = 'train', ratio: float = 0.05, seed: int = 0):
        if part not in ('train', 'heldout'):
            raise ValueError(f"HeldOutSplit.part must be 'train' or 'heldout', got {part!r}")
        if not 0.0 < ratio < 1.0:
            raise ValueError(f'HeldOutSplit.ratio must be in (0, 1), got {ratio}')
        self.dataset = DATASETS.build(dataset) if isinstance(dataset, dict) else dataset
        self.part, self.ratio, self.seed = part, ratio, seed
        n = len(self.dataset)
        num_heldout = max(1, int(round(ratio * n)))
        order = np.random.default_rng(seed).permutation(n)
        chosen = order[:num_heldout] if part == 'heldout' else order[num_heldout:]
        self.indices = np.sort(chosen)

    @property
    def metainfo(self) -> dict:
        return getattr(self.dataset, 'metainfo', {})

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, idx: int):
        return self.dataset[int(self.indices[idx])]
