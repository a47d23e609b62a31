"""Label handling that the classifier, General's weight estimate and the tools share."""

from typing import List

import torch
from mmpretrain.structures import DataSample


def hard_labels(data_samples: List[DataSample]) -> torch.Tensor:
    """(B,) class indices; the argmax class for mixed/soft labels."""
    if 'gt_score' in data_samples[0]:
        return torch.stack([s.gt_score for s in data_samples]).argmax(dim=1)
    return torch.cat([s.gt_label for s in data_samples])
