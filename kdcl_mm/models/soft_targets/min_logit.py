"""MinLogit KDCL soft target."""

from typing import List

from torch import Tensor

from kdcl_mm.registry import MODELS

from .base import BaseSoftTarget, fp32_no_grad


@MODELS.register_module()
class MinLogitSoftTarget(BaseSoftTarget):
    """t_j = min_{i ∈ F} (z_ij − z_ic), c the true class, F the students finite on the sample.

    Every student is shifted so its true-class logit is 0, so the target's
    true-class logit is exactly 0 and its cross-entropy is at most any
    student's.
    """

    @fp32_no_grad
    def forward(self, logits: List[Tensor], labels: Tensor) -> Tensor:
        z = self.stack(logits, labels)  # (N, B, C)
        index = labels.view(1, -1, 1).expand(z.shape[0], -1, 1)
        true_class = z.gather(2, index)
        finite = self.finite(z)
        target = self.left_out_as(z - true_class, finite, float('inf')).amin(dim=0)
        return self.no_target_where_none_finite(target, finite)
