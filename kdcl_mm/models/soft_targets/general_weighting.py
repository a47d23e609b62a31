"""Ensemble weights from a students' error-correlation matrix C (N, N), in float64.

Three rules, all minimising the ensemble's expected squared error wᵀCw subject to Σw = 1:

- :func:`closed_form_weights`: w = C⁻¹1 / 1ᵀC⁻¹1, no other constraint (Perrone & Cooper,
  1993; the KDCL paper's General). Weights may be negative and swing from epoch to epoch
  when C is estimated from few samples.
- :func:`simplex_weights`: additionally w ≥ 0, so the target is a convex combination of the
  students' logits and a noisy C cannot amplify one student against another.
- :func:`shrink_to_diagonal` + :func:`shrinkage_intensity`: C's off-diagonal entries shrunk
  toward 0 by a data-driven factor before the closed form (Ledoit & Wolf 2004 with the
  diagonal target of Schäfer & Strimmer 2005). With intensity 1 the weights are ∝ 1 / C_ii.
"""

import itertools

import torch
from torch import Tensor

from .linear import project_to_simplex

#: Up to this many students the simplex problem is solved exactly by trying every support.
MAX_EXACT_SIMPLEX = 12


def closed_form_weights(c: Tensor) -> Tensor:
    """w = C⁻¹1 / 1ᵀC⁻¹1 (may be negative). ``c`` must be invertible (add a ridge first)."""
    inv_ones = torch.linalg.solve(c, c.new_ones(c.shape[0]))
    return inv_ones / inv_ones.sum()


def simplex_weights(c: Tensor) -> Tensor:
    """argmin wᵀCw over w ≥ 0, Σw = 1, for a symmetric positive definite ``c``.

    Exact for N <= :data:`MAX_EXACT_SIMPLEX`: the optimum is the equality-constrained optimum
    on its support S (the students with w_i > 0), so among the supports whose restricted
    closed form is non-negative, the one with the lowest wᵀCw is the optimum (every such
    candidate is feasible, and the true support is among them). 2^N − 1 small solves; N is
    the number of students. For N = 2: w_1 = clip((c22 − c12) / (c11 + c22 − 2 c12), 0, 1).
    Larger N fall back to projected gradient descent.
    """
    n = c.shape[0]
    if n > MAX_EXACT_SIMPLEX:
        return _simplex_projected_gradient(c)
    best, best_value = None, None
    for size in range(1, n + 1):
        for support in itertools.combinations(range(n), size):
            index = torch.tensor(support, device=c.device)
            try:
                w_s = closed_form_weights(c[index][:, index])
            except torch.linalg.LinAlgError:  # singular: C's ridge is 0 and students agree
                continue
            if not bool(torch.isfinite(w_s).all()) or bool((w_s < 0).any()):
                continue
            w = c.new_zeros(n)
            w[index] = w_s
            value = w @ c @ w
            if best_value is None or value < best_value:
                best, best_value = w, value
    if best is None:  # every support singular: C is 0 (students never err), ridge 0
        return c.new_full((n,), 1.0 / n)
    return best


def _simplex_projected_gradient(c: Tensor, iters: int = 5000) -> Tensor:
    step = 1.0 / torch.linalg.eigvalsh(c).max().clamp_min(1e-12)  # 1 / Lipschitz (/2)
    w = c.new_full((c.shape[0],), 1.0 / c.shape[0])
    for _ in range(iters):
        w = project_to_simplex(w - step * (c @ w))
    return w


def shrinkage_intensity(mean_products: Tensor, mean_squares: Tensor, count: int) -> float:
    """Ledoit–Wolf intensity for shrinking C's off-diagonal entries toward 0.

    C_ij is the mean over M samples of per-sample products p_ij; its estimation variance is
    Var(p_ij) / M, estimated from the mean of p_ij² as (E[p²] − C²) / (M − 1). The intensity
    that minimises the expected squared error of the shrunk off-diagonals is
    λ = Σ_{i≠j} Var(C_ij) / Σ_{i≠j} C_ij², clipped to [0, 1] (Schäfer & Strimmer 2005,
    target D). Only sums over samples enter, so ranks can all-reduce them.
    """
    if count < 2:
        return 1.0
    off = ~torch.eye(mean_products.shape[0], dtype=torch.bool, device=mean_products.device)
    variance = ((mean_squares - mean_products**2).clamp_min(0) / (count - 1))[off].sum()
    signal = (mean_products**2)[off].sum()
    if not signal > 0:
        return 1.0
    return float((variance / signal).clamp(0, 1))


def shrink_to_diagonal(c: Tensor, intensity: float) -> Tensor:
    """(1 − λ) C + λ diag(C)."""
    return c - intensity * (c - torch.diag(c.diagonal()))
