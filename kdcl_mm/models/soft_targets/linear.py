"""Linear KDCL soft target: the simplex combination with the lowest batch CE."""
from typing import List, Optional

import torch
from mmpretrain.registry import MODELS
from torch import Tensor

from .base import BaseSoftTarget


def project_to_simplex(v: Tensor) -> Tensor:
    """Euclidean projection of each row of ``v`` (..., N) onto the simplex.

    Sort-based algorithm of Duchi et al. (2008): the coordinates kept
    positive are a prefix of the sorted vector, so counting them finds it.
    """
    u = v.sort(dim=-1, descending=True).values
    excess = u.cumsum(dim=-1) - 1
    k = torch.arange(1, v.shape[-1] + 1, device=v.device, dtype=v.dtype)
    kept = (u - excess / k > 0).sum(dim=-1, keepdim=True)
    theta = excess.gather(-1, kept - 1) / kept.to(v.dtype)
    return (v - theta).clamp_min(0)


@MODELS.register_module()
class LinearSoftTarget(BaseSoftTarget):
    """t = Σ_i α_i z_i, α = argmin over the simplex of the batch mean CE.

    Solved by projected gradient descent started at the best single student
    (a vertex). Each iteration tries ``num_step_sizes`` halving step sizes at
    once and takes the largest that passes an Armijo test, so the objective
    only decreases and the target's batch CE never exceeds the best
    student's. The last solution is kept in :attr:`alpha` for logging.

    Args:
        max_iters: Maximum number of gradient steps per batch.
        tol: Stop once a step lowers the mean CE by less than this.
        num_step_sizes: Number of step sizes tried per iteration; the largest
            moves a coordinate by about 1, each next one by half as much.
        armijo: Sufficient-decrease constant of the line search.
    """

    def __init__(self,
                 max_iters: int = 20,
                 tol: float = 1e-6,
                 num_step_sizes: int = 16,
                 armijo: float = 1e-4):
        super().__init__()
        if int(max_iters) != max_iters or max_iters < 0:
            raise ValueError(f'LinearSoftTarget.max_iters must be an integer '
                             f'>= 0, got {max_iters}.')
        if not tol >= 0:
            raise ValueError(f'LinearSoftTarget.tol must be >= 0, got {tol}.')
        if int(num_step_sizes) != num_step_sizes or num_step_sizes < 1:
            raise ValueError(f'LinearSoftTarget.num_step_sizes must be an '
                             f'integer >= 1, got {num_step_sizes}.')
        if not 0 <= armijo < 1:
            raise ValueError(f'LinearSoftTarget.armijo must lie in [0, 1), '
                             f'got {armijo}.')
        self.max_iters = int(max_iters)
        self.tol = tol
        self.num_step_sizes = int(num_step_sizes)
        self.armijo = armijo
        #: Weights (N,) of the last forward; None before the first one.
        self.alpha: Optional[Tensor] = None

    @torch.no_grad()
    def forward(self, logits: List[Tensor], labels: Tensor) -> Tensor:
        z = self.stack(logits, labels)
        self.alpha = self.solve(z.float(), labels)
        return torch.einsum('n,nbc->bc', self.alpha.to(z.dtype), z)

    def solve(self, z: Tensor, labels: Tensor) -> Tensor:
        """Return α (N,) on the simplex minimising mean CE(Σ α_i z_i, y)."""
        num_students, batch, _ = z.shape
        index = labels.view(1, -1, 1).expand(num_students, -1, 1)
        z_true = z.gather(2, index).squeeze(2)  # (N, B)

        def mean_ce(alphas: Tensor) -> Tensor:  # (K, N) -> (K,)
            t = torch.einsum('kn,nbc->kbc', alphas, z)
            true_logit = alphas @ z_true
            return (t.logsumexp(dim=-1) - true_logit).mean(dim=-1)

        vertices = torch.eye(num_students, device=z.device, dtype=z.dtype)
        vertex_ce = mean_ce(vertices)
        best = vertex_ce.argmin()
        alpha, ce = vertices[best], vertex_ce[best]
        halvings = 0.5**torch.arange(
            self.num_step_sizes, device=z.device, dtype=z.dtype)
        for _ in range(self.max_iters):
            t = torch.einsum('n,nbc->bc', alpha, z)
            grad = (torch.einsum('bc,nbc->n', t.softmax(dim=-1), z) / batch -
                    z_true.mean(dim=1))
            # Only the component along the simplex moves α; scaling by it
            # makes the largest trial step span the simplex.
            scale = (grad - grad.mean()).abs().max().clamp_min(1e-12)
            trials = project_to_simplex(alpha - (halvings / scale)[:, None] *
                                        grad)
            trial_ce = mean_ce(trials)
            sufficient = ce + self.armijo * ((trials - alpha) @ grad)
            accepted = (trial_ce < ce) & (trial_ce <= sufficient)
            if not accepted.any():
                break
            first = accepted.int().argmax()  # largest accepted step
            decrease = ce - trial_ce[first]
            alpha, ce = trials[first], trial_ce[first]
            if decrease < self.tol:
                break
        return alpha
