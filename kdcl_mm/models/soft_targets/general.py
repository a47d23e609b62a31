"""General KDCL soft target: Perrone–Cooper optimal linear ensemble."""
from typing import List

import torch
import torch.nn.functional as F
from mmpretrain.registry import MODELS
from torch import Tensor

from .base import BaseSoftTarget


@MODELS.register_module()
class GeneralSoftTarget(BaseSoftTarget):
    """t = Σ_i w_i z_i with w from held-out error correlations.

    w = C⁻¹1 / 1ᵀC⁻¹1 where C_ij = mean over held-out samples of
    Σ_c (f_i − t)(f_j − t), f the softmax probabilities and t the one-hot
    label (Perrone & Cooper, 1993). Weights start uniform; a hook calls
    :meth:`estimate_weights` (or sums :meth:`error_products` across ranks
    and calls :meth:`weights_from_covariance`) and then :meth:`set_weights`.
    ``weights`` and ``estimated`` are buffers, so checkpoints keep them.

    Args:
        num_students: Number of students N (>= 2).
        reg: Ridge added to C before solving, relative to its mean diagonal,
            because students that err alike make C near-singular.
    """

    requires_heldout = True

    def __init__(self, num_students: int, reg: float = 1e-3):
        super().__init__()
        if int(num_students) != num_students or num_students < 2:
            raise ValueError(f'GeneralSoftTarget.num_students must be an '
                             f'integer >= 2 (the number of students), got '
                             f'{num_students}.')
        if not reg >= 0:
            raise ValueError(f'GeneralSoftTarget.reg must be >= 0, got {reg}.')
        self.num_students = int(num_students)
        self.reg = float(reg)
        self.register_buffer(
            'weights', torch.full((self.num_students, ),
                                  1.0 / self.num_students))
        self.register_buffer('estimated', torch.tensor(False))

    def check_count(self, tensors: List[Tensor], what: str) -> None:
        if len(tensors) != self.num_students:
            raise ValueError(
                f'GeneralSoftTarget was built with num_students='
                f'{self.num_students} but got {what} from {len(tensors)} '
                f'students; set num_students to the number of students.')

    @torch.no_grad()
    def forward(self, logits: List[Tensor], labels: Tensor) -> Tensor:
        z = self.stack(logits, labels)
        self.check_count(logits, 'logits')
        return torch.einsum('n,nbc->bc', self.weights.to(z.dtype), z)

    @torch.no_grad()
    def error_products(self, probs: List[Tensor], labels: Tensor) -> Tensor:
        """Σ over samples of Σ_c (f_i − t)(f_j − t), as (N, N) float64.

        A sum, not a mean, so ranks can all-reduce sums and sample counts.
        """
        self.check_inputs(probs, labels, what='probabilities')
        self.check_count(probs, 'probabilities')
        f = torch.stack(probs).double()  # (N, M, C)
        errors = f - F.one_hot(labels.long(), f.shape[-1]).double()
        return torch.einsum('imc,jmc->ij', errors, errors)

    def weights_from_covariance(self, covariance: Tensor) -> Tensor:
        """w = C⁻¹1 / 1ᵀC⁻¹1 of the ridge-regularised C (may be negative)."""
        n = self.num_students
        if tuple(covariance.shape) != (n, n):
            raise ValueError(f'Error covariance must be ({n}, {n}), got '
                             f'{tuple(covariance.shape)}.')
        c = covariance.detach().double()
        c = c + self.reg * c.diagonal().mean() * torch.eye(
            n, dtype=c.dtype, device=c.device)
        inv_ones = torch.linalg.solve(c, c.new_ones(n))
        return (inv_ones / inv_ones.sum()).to(self.weights)

    def estimate_weights(self, probs: List[Tensor], labels: Tensor) -> Tensor:
        """Weights from held-out softmax probabilities (N × (M, C))."""
        return self.weights_from_covariance(
            self.error_products(probs, labels) / labels.numel())

    @torch.no_grad()
    def set_weights(self, weights: Tensor) -> None:
        if tuple(weights.shape) != (self.num_students, ):
            raise ValueError(f'weights must have shape ({self.num_students},), '
                             f'got {tuple(weights.shape)}.')
        if not torch.isfinite(weights).all():
            raise ValueError('weights must be finite; the error covariance '
                             'was singular, raise GeneralSoftTarget.reg.')
        self.weights.copy_(weights)
        self.estimated.fill_(True)
