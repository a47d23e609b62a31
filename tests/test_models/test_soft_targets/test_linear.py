"""LinearSoftTarget on inputs that made the projected-gradient solver index out of bounds."""

import numpy as np
import torch
import torch.nn.functional as F

import kdcl_mm  # noqa: F401
from kdcl_mm.models.soft_targets import LinearSoftTarget, project_to_simplex


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
    target = LinearSoftTarget()([broken, z], torch.tensor([0, 1]))
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
