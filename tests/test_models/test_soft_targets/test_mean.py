"""MeanSoftTarget: the mean of the finite students' logits."""

import torch

from kdcl_mm.models.soft_targets import MeanSoftTarget


def test_mean_averages_logits():
    z1 = torch.tensor([[1.0, 2.0], [3.0, -4.0]])
    z2 = torch.tensor([[3.0, 0.0], [1.0, 4.0]])
    z3 = torch.tensor([[2.0, 1.0], [-1.0, 3.0]])
    target = MeanSoftTarget()([z1, z2, z3], torch.tensor([0, 1]))
    assert torch.allclose(target, torch.tensor([[2.0, 1.0], [1.0, 1.0]]))


def test_mean_of_the_finite_students_only():
    z1 = torch.tensor([[1.0, 2.0], [3.0, -4.0]])
    z2 = torch.tensor([[3.0, 0.0], [float('nan'), 4.0]])
    z3 = torch.tensor([[2.0, 1.0], [-1.0, 3.0]])
    target = MeanSoftTarget()([z1, z2, z3], torch.tensor([0, 1]))
    # sample 1 without z2: ([3, -4] + [-1, 3]) / 2
    assert torch.equal(target, torch.tensor([[2.0, 1.0], [1.0, -0.5]]))
