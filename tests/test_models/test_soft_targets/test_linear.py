"""LinearSoftTarget: the simplex solver, inputs that once broke it, and per-group α under faults."""

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F

import kdcl_mm  # noqa: F401
from kdcl_mm.models.soft_targets import LinearSoftTarget, project_to_simplex
from tests.test_models.test_soft_targets.helpers import random_logits


def test_near_identical_students():
    # Equal gradients up to float noise: stepping along the raw gradient scaled by its
    # tiny difference used to lose the simplex to cancellation.
    g = torch.Generator().manual_seed(0)
    z1 = 3 * torch.randn(8, 5, generator=g)
    z2 = z1 + 1e-8 * torch.randn(8, 5, generator=g)
    y = torch.randint(5, (8,), generator=g)
    gen = LinearSoftTarget()
    target = gen([z1, z2], y)
    assert torch.all(gen.alpha >= 0) and abs(gen.alpha.sum().item() - 1) < 1e-6
    assert F.cross_entropy(target, y) <= min(F.cross_entropy(z, y) for z in (z1, z2)) + 1e-6


def test_nan_logits_give_a_nan_target_not_an_index_error():
    z = torch.tensor([[1.0, 0.0], [0.0, 1.0]])
    broken = z.clone()
    broken[0, 0] = float('nan')
    gen = LinearSoftTarget()
    gen.isolate_nonfinite = False  # isolation would keep the NaN away from the solver
    target = gen([broken, z], torch.tensor([0, 1]))
    assert target.shape == (2, 2)
    assert project_to_simplex(torch.tensor([float('nan'), 0.0])).shape == (2,)


def test_newton_steps_reach_an_asymmetric_optimum_in_three_iterations():
    # Margins 4a - 1 and 2 - 3a: CE(a) = (softplus(1 - 4a) + softplus(3a - 2)) / 2.
    z1 = torch.tensor([[3.0, 0.0], [0.0, 1.0]])
    z2 = torch.tensor([[0.0, 1.0], [2.0, 0.0]])
    y = torch.tensor([0, 0])
    grid = torch.linspace(0, 1, 100001, dtype=torch.float64)
    a_star = grid[((F.softplus(1 - 4 * grid) + F.softplus(3 * grid - 2)) / 2).argmin()]
    gen = LinearSoftTarget(max_iters=3)
    gen([z1, z2], y)
    assert abs(gen.alpha[0].item() - a_star.item()) < 1e-4


def reference_optimum(logits, y, steps=4000, lr=0.1):
    """Plain projected gradient descent in float64 numpy, many small fixed steps."""
    z = torch.stack(logits).double().numpy()  # (N, B, C)
    z_true = z[:, np.arange(len(y)), y.numpy()]  # (N, B)
    alpha = np.full(len(logits), 1 / len(logits))
    for _ in range(steps):
        t = np.einsum('n,nbc->bc', alpha, z)
        p = np.exp(t - t.max(axis=1, keepdims=True))
        p /= p.sum(axis=1, keepdims=True)
        grad = (np.einsum('bc,nbc->nb', p, z) - z_true).mean(axis=1)
        v = alpha - lr * grad  # Euclidean projection onto the simplex
        u = np.sort(v)[::-1]
        k = np.nonzero(u - (np.cumsum(u) - 1) / np.arange(1, len(u) + 1) > 0)[0][-1]
        alpha = np.maximum(v - (u[: k + 1].sum() - 1) / (k + 1), 0)
    t = np.einsum('n,nbc->bc', alpha, z)
    ce = (np.log(np.exp(t).sum(axis=1)) - t[np.arange(len(y)), y.numpy()]).mean()
    return torch.from_numpy(alpha), float(ce)


def test_coordinates_at_zero_stay_fixed_instead_of_bending_the_newton_step():
    # At this optimum one of four students has weight 0. A Newton step that also
    # moved that coordinate was cut off by the simplex and stalled 8e-4 above it.
    g = torch.Generator().manual_seed(12)
    logits = [2 * torch.randn(16, 5, generator=g) for _ in range(4)]
    y = torch.randint(5, (16,), generator=g)
    alpha_star, ce_star = reference_optimum(logits, y)
    assert (alpha_star < 1e-9).sum() == 1
    gen = LinearSoftTarget()
    ce = F.cross_entropy(gen(logits, y), y).item()
    assert abs(ce - ce_star) < 2e-6
    assert torch.allclose(gen.alpha.double(), alpha_star, atol=2e-3)


def mixture_ce(alpha, logits, y):
    return F.cross_entropy(sum(a * z for a, z in zip(alpha, logits)), y)


def test_project_to_simplex_known_values():
    v = torch.tensor([[1.0, 1.0], [2.0, 0.0], [0.6, 0.6], [0.3, 0.2]])
    expected = torch.tensor([[0.5, 0.5], [1.0, 0.0], [0.5, 0.5], [0.55, 0.45]])
    assert torch.allclose(project_to_simplex(v), expected)
    v3 = torch.tensor([0.6, 0.6, 0.1])
    assert torch.allclose(project_to_simplex(v3), torch.tensor([0.5, 0.5, 0.0]))


@pytest.mark.parametrize('num_students', [2, 3])
def test_linear_alpha_on_simplex_and_not_worse_than_best_student(num_students):
    logits, y = random_logits(num_students, batch=8, seed=7)
    gen = LinearSoftTarget()
    target = gen(logits, y)
    alpha = gen.alpha
    assert alpha.shape == (num_students,)
    assert torch.all(alpha >= 0)
    assert math.isclose(alpha.sum().item(), 1.0, abs_tol=1e-6)
    assert torch.allclose(target, sum(a * z for a, z in zip(alpha, logits)))
    best_single = min(F.cross_entropy(z, y).item() for z in logits)
    assert F.cross_entropy(target, y).item() <= best_single + 1e-6


def test_linear_starts_at_best_single_student():
    z1 = torch.tensor([[3.0, 0.0], [0.0, 1.0]])
    z2 = torch.tensor([[0.0, 1.0], [2.0, 0.0]])
    y = torch.tensor([0, 0])  # z1's mean CE 0.681 < z2's 0.720
    gen = LinearSoftTarget(max_iters=0)
    assert torch.equal(gen([z1, z2], y), z1)
    assert torch.equal(gen.alpha, torch.tensor([1.0, 0.0]))


def test_linear_symmetric_interior_optimum():
    # Each student is right on one sample and equally wrong on the other, so
    # CE(a) = softplus(4 - 8a) + softplus(8a - 4) is minimised at a = 1/2.
    z1 = torch.tensor([[4.0, 0.0], [0.0, 4.0]])
    z2 = torch.tensor([[0.0, 4.0], [4.0, 0.0]])
    y = torch.tensor([0, 0])
    gen = LinearSoftTarget()
    target = gen([z1, z2], y)
    assert torch.allclose(gen.alpha, torch.tensor([0.5, 0.5]), atol=1e-3)
    assert math.isclose(F.cross_entropy(target, y).item(), math.log(2), abs_tol=1e-5)


def test_linear_matches_brute_force_on_asymmetric_case():
    z1 = torch.tensor([[3.0, 0.0], [0.0, 1.0]])
    z2 = torch.tensor([[0.0, 1.0], [2.0, 0.0]])
    y = torch.tensor([0, 0])
    grid = torch.linspace(0, 1, 100001, dtype=torch.float64)
    # margins of a·z1 + (1 - a)·z2: 4a - 1 on sample 0, 2 - 3a on sample 1
    grid_ce = (F.softplus(1 - 4 * grid) + F.softplus(3 * grid - 2)) / 2
    a_star = grid[grid_ce.argmin()].item()
    assert math.isclose(
        mixture_ce((a_star, 1 - a_star), [z1, z2], y).item(), grid_ce.min().item(), abs_tol=1e-6
    )
    assert 0.05 < a_star < 0.95  # the optimum is strictly interior
    gen = LinearSoftTarget()
    gen([z1, z2], y)
    assert 0 < gen.alpha[0] < 1
    assert math.isclose(gen.alpha[0].item(), a_star, abs_tol=2e-3)
    assert mixture_ce(gen.alpha, [z1, z2], y).item() <= grid_ce.min().item() + 1e-6


def test_alpha_under_faults_is_the_largest_groups_with_zero_for_the_left_out_student():
    logits, y = random_logits(3, batch=8, seed=11)
    logits[2] = logits[2].clone()
    logits[2][[0, 5]] = float('nan')
    gen = LinearSoftTarget()
    gen(logits, y)
    clean = [1, 2, 3, 4, 6, 7]  # all three finite: the largest group
    expected = LinearSoftTarget()
    expected([z[clean] for z in logits], y[clean])
    assert torch.equal(gen.alpha, expected.alpha)
    logits[0] = torch.full_like(logits[0], float('inf'))  # now {1, 2} on 6 samples, {1} on 2
    gen(logits, y)
    expected([z[clean] for z in logits[1:]], y[clean])
    assert torch.equal(gen.alpha, torch.cat([torch.zeros(1), expected.alpha]))


def test_no_finite_student_anywhere_gives_a_nan_target_and_zero_alpha():
    nan = torch.full((3, 4), float('nan'))
    gen = LinearSoftTarget()
    target = gen([nan, nan], torch.tensor([0, 1, 2]))
    assert torch.isnan(target).all()
    assert torch.equal(gen.alpha, torch.zeros(2))
