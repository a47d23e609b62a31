"""General KDCL soft target: an optimal linear ensemble with weights from held-out errors."""

import logging
from typing import List

import torch
import torch.nn.functional as F
from mmengine.logging import print_log
from torch import Tensor

from kdcl_mm.registry import MODELS

from .base import BaseSoftTarget, fp32_no_grad, subset_codes
from .general_weighting import (
    closed_form_weights,
    shrink_to_diagonal,
    shrinkage_intensity,
    simplex_weights,
)

WEIGHTINGS = ('closed_form', 'simplex', 'shrinkage')

#: Up to this many students, every sub-ensemble's weights are solved from the held-out
#: statistics (for 'simplex' 3^N − 2^N small solves per estimate); beyond, a sub-ensemble gets
#: the full weights renormalised over its members.
MAX_SOLVED_SUBSETS = 8


def renormalised_subset_weights(weights: Tensor) -> Tensor:
    """(2^N, N): row k holds ``weights`` restricted to the students whose bit is set in k,
    rescaled to sum to 1 (uniform over them where that sum is not positive); the last row
    (every student) is ``weights`` as given, row 0 (no student) is 0."""
    n = weights.numel()
    bits = torch.arange(n, device=weights.device)
    members = ((torch.arange(2**n, device=weights.device)[:, None] >> bits) & 1).to(weights)
    restricted = members * weights
    total = restricted.sum(dim=1, keepdim=True)
    uniform = members / members.sum(dim=1, keepdim=True).clamp_min(1)
    table = torch.where(total > 0, restricted / total.where(total > 0, 1.0), uniform)
    table[-1] = weights
    return table


def min_heldout_samples(num_students: int) -> int:
    """Held-out samples below which GeneralSoftTarget warns: 25·N(N+1), i.e. 50 samples per
    free entry of the symmetric N×N matrix C (150 for 2 students, 300 for 3).

    A rule of thumb, not a bound: the weights depend on differences of C's entries (for two
    students on E[(e_1 − e_2)²], the students' disagreement), which are small when students
    agree, so they need many more samples than C's entries themselves (docs/demo.md shows how
    far closed-form weights from 30 held-out digits swing).
    """
    return 25 * num_students * (num_students + 1)


@MODELS.register_module()
class GeneralSoftTarget(BaseSoftTarget):
    """t = Σ_i w_i z_i with w from held-out error correlations.

    C_ij = mean over held-out samples of Σ_c (f_i − t)(f_j − t), f the softmax probabilities
    and t the one-hot label, and w minimises wᵀCw subject to Σw = 1 (Perrone & Cooper, 1993).
    Weights start uniform; a hook (``GeneralWeightsHook``, through
    ``kdcl_mm.engine.general_weights.estimate_general_weights``) sums
    :meth:`error_statistics` over held-out batches and ranks, calls
    :meth:`weights_from_statistics` and then :meth:`set_weights`. ``weights``,
    ``subset_weights`` and ``estimated`` are buffers, so checkpoints keep them.

    Fault isolation (``base.py``): a sample on which some students are non-finite gets the
    weights of the sub-ensemble of its finite students, row ``subset_weights[k]`` (bit i of k
    set for student i). :meth:`weights_from_statistics` solves every row from the same
    held-out statistics, restricted to the row's students, so a row is exactly what General
    of those students alone would use; :meth:`set_weights` installs those rows with the
    weights. Weights set by hand, and every row beyond :data:`MAX_SOLVED_SUBSETS` students,
    are the full weights renormalised over the row's students. A student whose held-out
    predictions are non-finite is left out of every row until the next estimate (warned).

    Args:
        num_students: Number of students N (>= 2).
        reg: Ridge added to C before solving, relative to its mean diagonal, because students
            that err alike make C near-singular.
        weighting: How w is computed from C (kdcl_mm/models/soft_targets/general_weighting.py):
            ``'simplex'`` (default): additionally w ≥ 0 (exact active-set solution).
            ``'closed_form'``: w = C⁻¹1 / 1ᵀC⁻¹1, the paper's; weights may be negative.
            ``'shrinkage'``: the closed form on C with its off-diagonal entries shrunk toward 0
            by the Ledoit–Wolf intensity estimated from the same held-out samples.
            The default was chosen on the MNIST demo's val split; the comparison is in
            docs/demo.md ("General weights: closed form, simplex, shrinkage").
    """

    requires_heldout = True

    def __init__(self, num_students: int, reg: float = 1e-3, weighting: str = 'simplex'):
        super().__init__()
        if int(num_students) != num_students or num_students < 2:
            raise ValueError(
                f'GeneralSoftTarget.num_students must be an '
                f'integer >= 2 (the number of students), got '
                f'{num_students}.'
            )
        if not reg >= 0:
            raise ValueError(f'GeneralSoftTarget.reg must be >= 0, got {reg}.')
        if weighting not in WEIGHTINGS:
            raise ValueError(
                f'GeneralSoftTarget.weighting must be one of {WEIGHTINGS}, got {weighting!r}.'
            )
        self.num_students = int(num_students)
        self.reg = float(reg)
        self.weighting = weighting
        #: Shrinkage intensity of the last estimate (None unless weighting='shrinkage').
        self.last_intensity = None
        self._warned_small_heldout = False
        self.register_buffer('weights', torch.full((self.num_students,), 1.0 / self.num_students))
        self.register_buffer('estimated', torch.tensor(False))
        self.register_buffer('subset_weights', renormalised_subset_weights(self.weights))
        #: (weights, subset_weights) of the last :meth:`weights_from_statistics`.
        self._solved = None

    def check_count(self, tensors: List[Tensor], what: str) -> None:
        if len(tensors) != self.num_students:
            raise ValueError(
                f'GeneralSoftTarget was built with num_students='
                f'{self.num_students} but got {what} from {len(tensors)} '
                f'students; set num_students to the number of students.'
            )

    @fp32_no_grad
    def forward(self, logits: List[Tensor], labels: Tensor) -> Tensor:
        z = self.stack(logits, labels)
        self.check_count(logits, 'logits')
        finite = self.finite(z)
        # t_b = Σ_i w_i z_i with w the weights of the students finite on b (all, normally).
        w = self.subset_weights[subset_codes(finite)].T.to(z.dtype)  # (N, B)
        target = (w[..., None] * self.left_out_as(z, finite, 0.0)).sum(dim=0)
        return self.no_target_where_none_finite(target, finite)

    @fp32_no_grad
    def error_statistics(self, probs: List[Tensor], labels: Tensor) -> Tensor:
        """(2, N, N) float64: Σ over samples of the per-sample error products
        p_ij = Σ_c (f_i − t)(f_j − t), and Σ of their squares p_ij².

        Sums, not means, so ranks can all-reduce them with the sample count. The squares
        give the shrinkage intensity; the other weightings ignore them.
        """
        self.check_inputs(probs, labels, what='probabilities')
        self.check_count(probs, 'probabilities')
        f = torch.stack(probs).double()  # (N, M, C)
        errors = f - F.one_hot(labels.long(), f.shape[-1]).double()
        per_sample = torch.einsum('imc,jmc->mij', errors, errors)
        return torch.stack([per_sample.sum(0), (per_sample**2).sum(0)])

    def error_products(self, probs: List[Tensor], labels: Tensor) -> Tensor:
        """Σ over samples of Σ_c (f_i − t)(f_j − t), as (N, N) float64."""
        return self.error_statistics(probs, labels)[0]

    def check_heldout_size(self, count: int) -> None:
        """Refuse fewer held-out samples than students; warn (once) below
        :func:`min_heldout_samples`."""
        n = self.num_students
        if count < n:
            raise ValueError(
                f'GeneralSoftTarget: the held-out split has {count} sample(s) for {n} students '
                f'(heldout/students = {count / n:.2f} < 1), so the error matrix C is singular. '
                "Enlarge the heldout part: raise HeldOutSplit's ratio in "
                'GeneralWeightsHook.heldout_dataloader (and in train_dataloader, the same split).'
            )
        if count < min_heldout_samples(n) and not self._warned_small_heldout:
            print_log(
                f'GeneralSoftTarget: {count} held-out samples for {n} students '
                f'(heldout/students = {count / n:.1f}); below {min_heldout_samples(n)} the '
                f"weights are noisy. Consider weighting='simplex' or 'shrinkage' "
                f'(model.soft_target.weighting, now {self.weighting!r}) or a larger '
                'HeldOutSplit ratio.',
                logger='current',
                level=logging.WARNING,
            )
            self._warned_small_heldout = True

    def weights_from_statistics(self, statistics: Tensor, count: int) -> Tensor:
        """Weights from :meth:`error_statistics` summed over ``count`` held-out samples."""
        n = self.num_students
        if tuple(statistics.shape) != (2, n, n):
            raise ValueError(
                f'Error statistics must be (2, {n}, {n}), got {tuple(statistics.shape)}.'
            )
        count = int(count)
        self.check_heldout_size(count)
        means = statistics.detach().double() / count
        usable = self.finite_heldout_students(means)
        full = 2**n - 1
        table = torch.zeros(2**n, n, dtype=self.weights.dtype, device=self.weights.device)
        for code in range(1, 2**n) if n <= MAX_SOLVED_SUBSETS else [full]:
            members = [i for i in range(n) if code >> i & 1]
            solved = [i for i in members if usable[i]]
            if not solved:  # no member has finite held-out errors: nothing to weigh them by
                table[code, members] = 1.0 / len(members)
                continue
            index = torch.tensor(solved, device=means.device)
            table[code, solved] = self._solve(means[:, index][:, :, index], count, code == full)
        if n > MAX_SOLVED_SUBSETS:
            table = renormalised_subset_weights(table[full])
        weights = table[full].clone()
        self._solved = (weights, table)
        return weights

    def _solve(self, means: Tensor, count: int, record: bool) -> Tensor:
        """Weights of the students of the (2, n, n) mean statistics ``means``."""
        covariance = means[0]
        if self.weighting == 'shrinkage':
            intensity = shrinkage_intensity(means[0], means[1], count)
            if record:
                self.last_intensity = intensity
            covariance = shrink_to_diagonal(covariance, intensity)
        return self._weights_of(covariance)

    def finite_heldout_students(self, means: Tensor) -> List[bool]:
        """Which students' held-out error statistics are finite; warns about the others."""
        # A NaN student makes its own C_ii non-finite (and its row, which others share).
        usable = torch.isfinite(means.diagonal(dim1=1, dim2=2)).all(dim=0).tolist()
        if not all(usable):
            bad = [i for i, ok in enumerate(usable) if not ok]
            print_log(
                f'GeneralSoftTarget: the held-out predictions of model.students{bad} are '
                'non-finite (NaN/inf logits on held-out data); they are left out of the '
                'ensemble weights until the next estimate.',
                logger='current',
                level=logging.WARNING,
            )
        return usable

    def weights_from_covariance(self, covariance: Tensor) -> Tensor:
        """Weights of the ridge-regularised C by ``weighting`` (shrinkage: C is taken as given,
        already shrunk; see :meth:`weights_from_statistics`)."""
        n = self.num_students
        if tuple(covariance.shape) != (n, n):
            raise ValueError(f'Error covariance must be ({n}, {n}), got {tuple(covariance.shape)}.')
        return self._weights_of(covariance)

    def _weights_of(self, covariance: Tensor) -> Tensor:
        """:meth:`weights_from_covariance` of any number of students (a sub-ensemble's C)."""
        c = covariance.detach().double()
        eye = torch.eye(c.shape[0], dtype=c.dtype, device=c.device)
        c = c + self.reg * c.diagonal().mean() * eye
        if self.weighting == 'simplex':
            return simplex_weights(c).to(self.weights)
        return closed_form_weights(c).to(self.weights)

    def estimate_weights(self, probs: List[Tensor], labels: Tensor) -> Tensor:
        """Weights from held-out softmax probabilities (N × (M, C))."""
        return self.weights_from_statistics(self.error_statistics(probs, labels), labels.numel())

    @torch.no_grad()
    def set_weights(self, weights: Tensor) -> None:
        if tuple(weights.shape) != (self.num_students,):
            raise ValueError(
                f'weights must have shape ({self.num_students},), got {tuple(weights.shape)}.'
            )
        if not torch.isfinite(weights).all():
            raise ValueError(
                'weights must be finite; the error covariance '
                'was singular, raise GeneralSoftTarget.reg.'
            )
        if self._solved is not None and torch.equal(self._solved[0], weights.to(self.weights)):
            subsets = self._solved[1]  # solved with these weights from the same statistics
        else:
            subsets = renormalised_subset_weights(weights.to(self.weights))
        self.weights.copy_(weights)
        self.subset_weights.copy_(subsets)
        self.estimated.fill_(True)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):
        # Checkpoints from before sub-ensemble weights: renormalise their weights.
        if prefix + 'weights' in state_dict and prefix + 'subset_weights' not in state_dict:
            state_dict[prefix + 'subset_weights'] = renormalised_subset_weights(
                state_dict[prefix + 'weights']
            )
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)
