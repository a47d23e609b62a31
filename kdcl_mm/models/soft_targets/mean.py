"""Mean of the students' logits (DML-style baseline, not KDCL)."""

from typing import List

from mmpretrain.registry import MODELS
from torch import Tensor

from .base import BaseSoftTarget, fp32_no_grad


@MODELS.register_module()
class MeanSoftTarget(BaseSoftTarget):
    """t = (1/N) Σ_i z_i."""

    @fp32_no_grad
    def forward(self, logits: List[Tensor], labels: Tensor) -> Tensor:
        return self.stack(logits, labels).mean(dim=0)
