"""MinLogitSoftTarget: t_j = min over the finite students of (z_ij - z_ic)."""

import pytest
import torch

from kdcl_mm.models.soft_targets import MinLogitSoftTarget
from tests.test_models.test_soft_targets.helpers import per_sample_ce, random_logits


def test_min_logit_hand_computed():
    z1 = torch.tensor([[2.0, 1.0, 0.0], [0.0, 5.0, 1.0]])
    z2 = torch.tensor([[3.0, 0.0, 1.0], [2.0, 4.0, 0.0]])
    y = torch.tensor([0, 1])
    target = MinLogitSoftTarget()([z1, z2], y)
    # sample 0: z1 - 2 = [0, -1, -2], z2 - 3 = [0, -3, -2]
    # sample 1: z1 - 5 = [-5, 0, -4], z2 - 4 = [-2, 0, -4]
    assert torch.equal(target, torch.tensor([[0.0, -3.0, -2.0], [-5.0, 0.0, -4.0]]))


@pytest.mark.parametrize('num_students', [2, 3])
def test_min_logit_true_class_zero_and_ce_below_every_student(num_students):
    logits, y = random_logits(num_students, seed=num_students)
    target = MinLogitSoftTarget()(logits, y)
    assert torch.all(target.gather(1, y[:, None]) == 0)
    target_ce = per_sample_ce(target, y)
    for z in logits:
        assert torch.all(target_ce <= per_sample_ce(z, y) + 1e-6)


def test_a_non_finite_student_does_not_enter_the_minimum():
    # Student 1's -inf would otherwise be every wrong class's minimum on sample 0.
    z1 = torch.tensor([[2.0, -float('inf'), 0.0], [0.0, 5.0, 1.0]])
    z2 = torch.tensor([[3.0, 0.0, 1.0], [2.0, 4.0, 0.0]])
    y = torch.tensor([0, 1])
    target = MinLogitSoftTarget()([z1, z2], y)
    # sample 0: only z2 - 3 = [0, -3, -2]; sample 1 as in test_min_logit_hand_computed
    assert torch.equal(target, torch.tensor([[0.0, -3.0, -2.0], [-5.0, 0.0, -4.0]]))
