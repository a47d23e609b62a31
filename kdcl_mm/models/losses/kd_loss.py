"""Temperature-scaled KL distillation towards a (detached) soft target."""

import math
from numbers import Real
from typing import Optional

import torch.nn.functional as F
from torch import Tensor, nn

from kdcl_mm.models.soft_targets.base import at_least_fp32, autocast_disabled
from kdcl_mm.registry import MODELS


@MODELS.register_module()
class SoftTargetKDLoss(nn.Module):
    """loss = loss_weight · ramp · T² · KL(p_t ‖ p_s), p = softmax(z / T).

    KL is averaged over the batch; the target logits are detached here, so
    no gradient reaches the soft target. T² keeps gradient scales comparable
    across temperatures. The loss is computed in fp32 with autocast off, also
    when the logits come fp16/bf16 from a mixed-precision forward: the student
    logits are cast with ``.float()``, so the gradient flows back through the
    cast and reaches the student in its own dtype. The loss is returned in fp32.

    Args:
        temperature: Softmax temperature T (> 0).
        loss_weight: KD weight λ (>= 0).

    Attributes:
        ramp: Extra multiplier in [0, 1], 1.0 by default; a warm-up hook may
            set it to ramp the KD term up over early training (as in ONE).
    """

    def __init__(self, temperature: float = 2.0, loss_weight: float = 1.0):
        super().__init__()
        if not (isinstance(temperature, Real) and math.isfinite(temperature) and temperature > 0):
            raise ValueError(
                f'kd_loss.temperature must be a finite number > 0 (e.g. 2.0), got {temperature!r}.'
            )
        if not (isinstance(loss_weight, Real) and math.isfinite(loss_weight) and loss_weight >= 0):
            raise ValueError(
                f'kd_loss.loss_weight must be a finite number >= 0 (e.g. 1.0), got {loss_weight!r}.'
            )
        self.temperature = float(temperature)
        self.loss_weight = float(loss_weight)
        self.ramp = 1.0

    def forward(
        self, student_logits: Tensor, target_logits: Tensor, mask: Optional[Tensor] = None
    ) -> Tensor:
        """KD loss of (B, C) student logits towards (B, C) target logits.

        ``mask`` (B,) bool, optional: samples where it is False have no target (KDCL: no
        student was finite on them) and add 0 to the batch sum, still divided by B, so the
        other samples' terms are what they are without a mask.
        """
        if student_logits.shape != target_logits.shape:
            raise ValueError(
                f'Student and target logits must have the same shape, got '
                f'{tuple(student_logits.shape)} and '
                f'{tuple(target_logits.shape)}.'
            )
        if mask is not None and tuple(mask.shape) != tuple(student_logits.shape[:1]):
            raise ValueError(
                f'mask must have shape (B,) = ({student_logits.shape[0]},), got '
                f'{tuple(mask.shape)}.'
            )
        t = self.temperature
        with autocast_disabled(student_logits.device.type):
            log_p_s = F.log_softmax(at_least_fp32(student_logits) / t, dim=-1)
            log_p_t = F.log_softmax(at_least_fp32(target_logits.detach()) / t, dim=-1)
            if mask is not None:
                # Equal zero rows: exactly 0 there, and their NaNs never enter the sum.
                keep = mask.view(-1, 1)
                log_p_s, log_p_t = log_p_s.where(keep, 0.0), log_p_t.where(keep, 0.0)
            kl = F.kl_div(log_p_s, log_p_t, reduction='batchmean', log_target=True)
            return self.loss_weight * self.ramp * t**2 * kl
