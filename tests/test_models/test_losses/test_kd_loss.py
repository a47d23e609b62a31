import math

import pytest
import torch

import kdcl_mm  # noqa: F401
from kdcl_mm.models.losses import SoftTargetKDLoss
from kdcl_mm.registry import MODELS


def test_hand_computed_value():
    # T = 2: target row 0 gives p_t = [3/4, 1/4]; student zeros give [1/2, 1/2]
    student = torch.tensor([[0.0, 0.0], [1.0, -1.0]])
    target = torch.tensor([[2 * math.log(3), 0.0], [1.0, -1.0]])
    kl_row0 = 0.75 * math.log(1.5) + 0.25 * math.log(0.5)
    loss = SoftTargetKDLoss(temperature=2.0, loss_weight=0.5)(student, target)
    # batchmean over 2 rows (row 1 contributes 0), times T^2 and the weight
    assert math.isclose(loss.item(), 0.5 * 4 * kl_row0 / 2, rel_tol=1e-6)


def test_built_from_registry_and_zero_when_student_equals_target():
    loss_fn = MODELS.build(dict(type='SoftTargetKDLoss', temperature=4.0))
    assert isinstance(loss_fn, SoftTargetKDLoss)
    z = torch.randn(3, 5, generator=torch.Generator().manual_seed(0))
    assert abs(loss_fn(z, z.clone()).item()) < 1e-7


def test_gradient_reaches_student_only():
    g = torch.Generator().manual_seed(1)
    student = torch.randn(4, 3, generator=g, requires_grad=True)
    target = torch.randn(4, 3, generator=g, requires_grad=True)
    SoftTargetKDLoss()(student, target).backward()
    assert target.grad is None
    assert student.grad is not None and student.grad.abs().sum() > 0


def test_ramp_scales_loss():
    g = torch.Generator().manual_seed(2)
    student, target = torch.randn(4, 3, generator=g), torch.randn(4, 3, generator=g)
    loss_fn = SoftTargetKDLoss()
    assert loss_fn.ramp == 1.0
    full = loss_fn(student, target)
    loss_fn.ramp = 0.25
    assert torch.allclose(loss_fn(student, target), 0.25 * full)


@pytest.mark.parametrize('temperature', [0, -1.0, float('inf'), float('nan')])
def test_bad_temperature(temperature):
    with pytest.raises(ValueError, match='kd_loss.temperature'):
        SoftTargetKDLoss(temperature=temperature)


def test_bad_loss_weight_and_shape():
    with pytest.raises(ValueError, match='kd_loss.loss_weight'):
        SoftTargetKDLoss(loss_weight=-0.1)
    with pytest.raises(ValueError, match='same shape'):
        SoftTargetKDLoss()(torch.zeros(2, 3), torch.zeros(2, 4))


# ---- the per-sample mask: samples without a target add no KD term ----


def test_a_masked_sample_adds_zero_and_the_batch_mean_still_divides_by_b():
    g = torch.Generator().manual_seed(3)
    student = torch.randn(4, 5, generator=g)
    target = torch.randn(4, 5, generator=g)
    student[2, 0], target[2] = float('nan'), float('nan')  # no student finite on sample 2
    mask = torch.tensor([True, True, False, True])
    loss_fn = SoftTargetKDLoss(temperature=2.0)
    loss = loss_fn(student, target, mask=mask)
    kept = [0, 1, 3]
    torch.testing.assert_close(loss, loss_fn(student[kept], target[kept]) * 3 / 4)
    assert torch.isfinite(loss)


def test_a_mask_of_the_wrong_shape_is_refused():
    with pytest.raises(ValueError, match=r'mask must have shape \(B,\) = \(2,\)'):
        SoftTargetKDLoss()(torch.zeros(2, 3), torch.zeros(2, 3), mask=torch.ones(3, dtype=bool))
