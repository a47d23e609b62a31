"""Mean of the students' logits (DML-style baseline, not KDCL)."""

from typing import List

from torch import Tensor

from kdcl_mm.registry import MODELS

from .base import BaseSoftTarget, fp32_no_grad


@MODELS.register_module()
class MeanSoftTarget(BaseSoftTarget):
    """t = (1/|F|) Σ_{i ∈ F} z_i, F the students finite on the sample (all N normally)."""

    @fp32_no_grad
    def forward(self, logits: List[Tensor], labels: Tensor) -> Tensor:
        z = self.stack(logits, labels)
        finite = self.finite(z)
        # 0/0 = NaN where no student is finite: no target there.
        return self.left_out_as(z, finite, 0.0).sum(dim=0) / finite.sum(dim=0, keepdim=True).T
