"""Small helpers that the classifier, the hooks and the tools share."""

from typing import List

import torch
from mmengine.model import is_model_wrapper
from mmpretrain.structures import DataSample


def hard_labels(data_samples: List[DataSample]) -> torch.Tensor:
    """(B,) class indices; the argmax class for mixed/soft labels."""
    if 'gt_score' in data_samples[0]:
        return torch.stack([s.gt_score for s in data_samples]).argmax(dim=1)
    return torch.cat([s.gt_label for s in data_samples])


def unwrap(model):
    """The model inside a DDP (or other mmengine) wrapper; the model itself otherwise."""
    return model.module if is_model_wrapper(model) else model
