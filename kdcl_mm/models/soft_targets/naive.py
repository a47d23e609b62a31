"""Naive KDCL soft target: the best student per sample."""

from typing import List

import torch
import torch.nn.functional as F
from torch import Tensor

from kdcl_mm.registry import MODELS

from .base import BaseSoftTarget, fp32_no_grad


@MODELS.register_module()
class NaiveSoftTarget(BaseSoftTarget):
    """t[b] = z_k[b] with k = argmin_{i ∈ F} CE(z_i[b], y_b), F the students finite on b."""

    @fp32_no_grad
    def forward(self, logits: List[Tensor], labels: Tensor) -> Tensor:
        z = self.stack(logits, labels)  # (N, B, C)
        num_students, batch = z.shape[:2]
        ce = F.cross_entropy(z.flatten(0, 1), labels.repeat(num_students), reduction='none').view(
            num_students, batch
        )
        finite = self.finite(z)
        best = self.left_out_as(ce, finite, float('inf')).argmin(dim=0)
        return self.no_target_where_none_finite(
            z[best, torch.arange(batch, device=z.device)], finite
        )
