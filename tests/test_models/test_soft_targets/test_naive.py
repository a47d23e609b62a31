"""NaiveSoftTarget: the finite student with the lowest cross-entropy, per sample."""

import pytest
import torch

from kdcl_mm.models.soft_targets import NaiveSoftTarget
from tests.test_models.test_soft_targets.helpers import random_logits


@pytest.mark.parametrize('num_students', [2, 3])
def test_naive_picks_best_student_per_sample(num_students):
    logits, y = random_logits(num_students, batch=6, classes=4, seed=1)
    best = torch.tensor([1, 0, num_students - 1, 0, 1, num_students - 1])
    for b, k in enumerate(best.tolist()):
        logits[k][b, y[b]] = 50.0  # student k is clearly best on sample b
    target = NaiveSoftTarget()(logits, y)
    for b, k in enumerate(best.tolist()):
        assert torch.equal(target[b], logits[k][b])


def test_a_non_finite_student_is_never_picked_even_with_the_lowest_cross_entropy():
    # -inf on the wrong classes gives CE 0 on sample 0: the "best", yet not a usable target.
    z1 = torch.tensor([[5.0, -float('inf'), -float('inf')], [1.0, 0.0, 0.0]])
    z2 = torch.tensor([[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]])
    y = torch.tensor([0, 1])
    target = NaiveSoftTarget()([z1, z2], y)
    assert torch.equal(target, torch.stack([z2[0], z2[1]]))
