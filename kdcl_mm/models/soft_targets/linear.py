"""Linear KDCL soft target: the simplex combination with the lowest batch CE."""

from typing import List, Optional, Tuple

import torch
from torch import Tensor

from kdcl_mm.registry import MODELS

from .base import BaseSoftTarget, fp32_no_grad


def project_to_simplex(v: Tensor) -> Tensor:
    """Euclidean projection of each row of ``v`` (..., N) onto the simplex.

    Sort-based algorithm of Duchi et al. (2008): the coordinates kept
    positive are a prefix of the sorted vector, so counting them finds it.
    """
    u = v.sort(dim=-1, descending=True).values
    excess = u.cumsum(dim=-1) - 1
    k = torch.arange(1, v.shape[-1] + 1, device=v.device, dtype=v.dtype)
    # The largest coordinate is always kept; counting can miss it only on NaN.
    kept = (u - excess / k > 0).sum(dim=-1, keepdim=True).clamp_min(1)
    theta = excess.gather(-1, kept - 1) / kept.to(v.dtype)
    return (v - theta).clamp_min(0)


def newton_direction(grad: Tensor, hessian: Tensor, free: Tensor) -> Tensor:
    """argmin over d with Σd = 0 and d_i = 0 where not ``free`` of gᵀd + ½dᵀHd.

    H gets a small ridge because students that agree make it singular.
    """
    eye = torch.eye(grad.numel(), device=grad.device, dtype=grad.dtype)
    ridge = 1e-6 * hessian.diagonal().mean().clamp_min(1e-6)
    # Fixed coordinates get identity rows and a zero gradient, so d_i = 0 there.
    h = torch.where(free[:, None] & free[None, :], hessian, eye) + ridge * eye
    ones = free.to(grad.dtype)
    # solve_ex: no singularity check, which would synchronise a GPU.
    h_inv_g, h_inv_1 = torch.linalg.solve_ex(
        h, torch.stack([grad * ones, ones], dim=1)
    ).result.unbind(1)
    return h_inv_1 * (h_inv_g.sum() / h_inv_1.sum()) - h_inv_g


@MODELS.register_module()
class LinearSoftTarget(BaseSoftTarget):
    """t = Σ_i α_i z_i, α = argmin over the simplex of the batch mean CE.

    Solved by projected Newton steps started at the best single student (a
    vertex): the mean CE is convex in α with gradient E_p[z_i] − z_iy and
    Hessian Cov_p(z_i, z_j), so a few steps suffice. Coordinates at 0 that
    a step would push below 0 stay fixed. A Newton step that stays inside
    the simplex is tried at a few halving lengths; one the boundary cuts
    off, and then the projected gradient, at ``num_step_sizes``. The trial
    with the lowest CE among those passing an Armijo test is taken, so the
    objective only decreases and the target's batch CE never exceeds the
    best student's. The last solution is kept in :attr:`alpha` for logging.

    A student non-finite on some samples is left out of their ensemble: α is solved
    separately over each group of samples that share their finite students, over those
    students (:meth:`~kdcl_mm.models.soft_targets.base.BaseSoftTarget.per_finite_subset`);
    :attr:`alpha` is then the largest group's, 0 for the students left out of it. Each
    forward synchronises with the host once to find out (the solver does anyway).

    Args:
        max_iters: Maximum number of steps per batch.
        tol: Stop once a step lowers the mean CE, or a Newton step inside
            the simplex is predicted to, by less than this.
        num_step_sizes: Number of projected-gradient step sizes tried; the
            largest moves a coordinate by about 1, each next one by half.
        armijo: Sufficient-decrease constant of the line search.
    """

    #: Lengths 1, 1/2, 1/4, 1/8 of a Newton step inside the simplex: it is
    #: well scaled there.
    newton_step_sizes = 4

    def __init__(
        self, max_iters: int = 20, tol: float = 1e-6, num_step_sizes: int = 16, armijo: float = 1e-4
    ):
        super().__init__()
        if int(max_iters) != max_iters or max_iters < 0:
            raise ValueError(
                f'LinearSoftTarget.max_iters must be an integer >= 0, got {max_iters}.'
            )
        if not tol >= 0:
            raise ValueError(f'LinearSoftTarget.tol must be >= 0, got {tol}.')
        if int(num_step_sizes) != num_step_sizes or num_step_sizes < 1:
            raise ValueError(
                f'LinearSoftTarget.num_step_sizes must be an integer >= 1, got {num_step_sizes}.'
            )
        if not 0 <= armijo < 1:
            raise ValueError(f'LinearSoftTarget.armijo must lie in [0, 1), got {armijo}.')
        self.max_iters = int(max_iters)
        self.tol = tol
        self.num_step_sizes = int(num_step_sizes)
        self.armijo = armijo
        #: Weights (N,) of the last forward (its largest group of samples with the same finite
        #: students); None before the first one.
        self.alpha: Optional[Tensor] = None

    @fp32_no_grad
    def forward(self, logits: List[Tensor], labels: Tensor) -> Tensor:
        z = self.stack(logits, labels)
        # One α per group of samples sharing their finite students (base.py); normally one.
        target, alphas = self.per_finite_subset(z, labels, self.mixture)
        self.alpha = alphas[0]
        return target

    def mixture(self, z: Tensor, labels: Tensor) -> Tuple[Tensor, Tensor]:
        """(Σ_i α_i z_i, α) with α solved on these students and samples."""
        alpha = self.solve(z.float(), labels)
        return torch.einsum('n,nbc->bc', alpha.to(z.dtype), z), alpha

    def solve(self, z: Tensor, labels: Tensor) -> Tensor:
        """Return α (N,) on the simplex minimising mean CE(Σ α_i z_i, y)."""
        num_students, batch, num_classes = z.shape
        index = labels.view(1, -1, 1).expand(num_students, -1, 1)
        z_true = z.gather(2, index).squeeze(2).mean(dim=1)  # (N,)
        z_flat = z.reshape(num_students, -1)  # mixtures become one matmul

        def mean_ce(alphas: Tensor) -> Tensor:  # (K, N) -> (K,)
            t = (alphas @ z_flat).view(-1, batch, num_classes)
            return t.logsumexp(dim=-1).mean(dim=-1) - alphas @ z_true

        def line_search(alpha, ce, grad, direction, steps):
            trials = project_to_simplex(alpha + steps[:, None] * direction)
            trial_ce = mean_ce(trials)
            sufficient = ce + self.armijo * ((trials - alpha) @ grad)
            accepted = (trial_ce < ce) & (trial_ce <= sufficient)
            if not accepted.any():
                return None
            best = torch.where(accepted, trial_ce, torch.inf).argmin()
            return trials[best], trial_ce[best]

        vertices = torch.eye(num_students, device=z.device, dtype=z.dtype)
        vertex_ce = mean_ce(vertices)
        best = vertex_ce.argmin()
        alpha, ce = vertices[best], vertex_ce[best]
        halvings = 0.5 ** torch.arange(self.num_step_sizes, device=z.device, dtype=z.dtype)
        newton_halvings = 0.5 ** torch.arange(
            self.newton_step_sizes, device=z.device, dtype=z.dtype
        )
        all_free = torch.ones(num_students, device=z.device, dtype=torch.bool)
        for _ in range(self.max_iters):
            p = (alpha @ z_flat).view(batch, num_classes).softmax(dim=-1)
            pz = p * z
            expected = pz.sum(dim=-1)  # E_p[z_i] per sample, (N, B)
            grad = expected.mean(dim=1) - z_true
            hessian = (pz.view(num_students, -1) @ z_flat.T - expected @ expected.T) / batch
            newton = newton_direction(grad, hessian, all_free)
            # Coordinates at 0 that Newton pushes below 0 stay there.
            blocked = (alpha <= 0) & (newton < 0)
            if blocked.any():
                newton = newton_direction(grad, hessian, ~blocked)
            gain = -(grad @ newton + 0.5 * newton @ hessian @ newton)
            inside, gain = bool((alpha + newton).min() >= 0), gain.item()
            # Shorten a step longer than the simplex so its projection is exact.
            newton = newton / newton.abs().max().clamp_min(1)
            if inside and gain < self.tol:
                break  # the quadratic model's whole Newton step gains < tol
            # A step cut off by the boundary is no longer well scaled.
            step = line_search(alpha, ce, grad, newton, newton_halvings if inside else halvings)
            if step is None:
                if inside:
                    break  # an unconstrained Newton step that fails: converged
                # The boundary cut Newton's step off. Only the component along
                # the simplex moves α; scaling by it makes the largest trial
                # step span the simplex.
                tangent = grad - grad.mean()
                scale = tangent.abs().max()
                if not scale > 0:
                    break
                step = line_search(alpha, ce, grad, -tangent / scale, halvings)
            if step is None:
                break
            decrease = ce - step[1]
            alpha, ce = step
            if decrease < self.tol:
                break
        return alpha
