"""What every soft-target generator shares: input checks, the fp32 region, and fault isolation.

Fault isolation. A student whose logits are non-finite (NaN or ±inf) on a sample is left out of
that sample's ensemble: each sample's target is the generator's target of the students that are
finite on it, so one student's fault never reaches the others' KD terms. What "left out" means:

- Per-sample generators (Naive, MinLogit, Mean): the target of sample b is the generator over
  the students finite on b, exactly.
- Linear (α solved over a batch): α is solved separately for each group of samples that share
  the same finite students, over those students and those samples
  (:meth:`BaseSoftTarget.per_finite_subset`).
- General (weights from held-out data): a sample's weights are the held-out weights of the
  sub-ensemble of its finite students, solved from the same held-out error statistics
  (:class:`~kdcl_mm.models.soft_targets.GeneralSoftTarget`).

So when one student is non-finite on every sample, every generator gives exactly what it gives
for the other N − 1 students; when every student is finite, exactly what it gave before. A sample
on which no student is finite has no target: its row is NaN, and ``SoftTargetKDLoss`` (given
KDCL's mask) adds no KD term for it. Generators that do not subclass :class:`BaseSoftTarget` get
no isolation.
"""

import contextlib
import functools
from typing import Callable, List, Sequence, Tuple

import torch
from torch import Tensor, nn


def autocast_disabled(device_type: str):
    """A context in which autocast is off for ``device_type`` (a no-op where it has none).

    Under mixed precision the students' logits arrive in fp16/bf16 and autocast would run
    the ensemble's matmuls/einsums in that dtype too. Soft targets, solvers and the KD loss
    need fp32: fp16 overflows above 65504 and bf16 keeps 8 significant bits. Works with
    ``torch.autocast`` from torch 1.10 on; device types that autocast does not know (older
    torch for 'mps', 'meta', ...) raise there, and then there is nothing to disable.
    """
    try:
        return torch.autocast(device_type=device_type, enabled=False)
    except (RuntimeError, ValueError):
        return contextlib.nullcontext()


def at_least_fp32(x: Tensor) -> Tensor:
    """``x`` in fp32, or fp64 if it is fp64 (casting down would lose precision for nothing)."""
    return x if x.dtype == torch.float64 else x.float()


def fp32_no_grad(forward: Callable) -> Callable:
    """Run a generator method without grad and with autocast off on the inputs' device.

    The method's first argument is a list of (B, C) tensors; :meth:`BaseSoftTarget.stack`
    then casts them to fp32, so every op of the method runs in fp32 whatever the caller's
    autocast state.
    """

    @functools.wraps(forward)
    def wrapper(self, tensors, *args, **kwargs):
        first = tensors[0] if isinstance(tensors, (list, tuple)) and tensors else None
        # Bad input gets check_inputs' message, from inside the region.
        device_type = first.device.type if isinstance(first, Tensor) else 'cpu'
        with torch.no_grad(), autocast_disabled(device_type):
            return forward(self, tensors, *args, **kwargs)

    return wrapper


def finite_students(logits: Sequence[Tensor]) -> Tensor:
    """(N, B) bool: whether student i's logits are finite (no NaN, no ±inf) on sample b.

    ``logits`` is a list of (B, C) tensors or an (N, B, C) tensor. No host synchronisation.
    """
    if isinstance(logits, Tensor):
        return torch.isfinite(logits).all(dim=-1)
    return torch.stack([torch.isfinite(z).all(dim=-1) for z in logits])


def subset_codes(finite: Tensor) -> Tensor:
    """(B,) long from an (N, B) mask: the sum of 2^i over the students i finite on the sample,
    which indexes a table with one row per subset of the students."""
    bits = 2 ** torch.arange(finite.shape[0], device=finite.device)
    return (finite.long() * bits[:, None]).sum(dim=0)


class BaseSoftTarget(nn.Module):
    """Builds one soft target (B, C) from the logits of N >= 2 students.

    Subclasses implement ``forward(logits, labels)`` decorated with :func:`fp32_no_grad`
    and start it with :meth:`stack`, so the target never carries gradient and is fp32
    (computed in fp32 from the detached logits) also under autocast. They leave non-finite
    students out of each sample's ensemble (module docstring) through :meth:`finite`,
    :meth:`left_out_as`, :meth:`no_target_where_none_finite` and :meth:`per_finite_subset`.
    """

    #: Whether the generator needs weights estimated on held-out data.
    requires_heldout = False

    #: Whether students with non-finite logits are left out of a sample's ensemble. Only the
    #: fault injection (``tools.analysis_tools.fault_injection``) and tests turn it off (on a
    #: built generator) to measure what happens without isolation: one NaN then reaches every
    #: student.
    isolate_nonfinite = True

    @staticmethod
    def check_inputs(tensors: Sequence[Tensor], labels: Tensor, what: str = 'logits') -> None:
        """Raise ValueError unless ``tensors`` are >= 2 equal (B, C) tensors
        and ``labels`` is an integer (B,) tensor."""
        if not isinstance(tensors, (list, tuple)) or len(tensors) < 2:
            n = len(tensors) if isinstance(tensors, (list, tuple)) else 'not a list'
            raise ValueError(
                f'A soft target needs a list of {what} from at least 2 '
                f'students, got {n}; give the KDCL classifier two or more '
                f'students.'
            )
        shape = tuple(tensors[0].shape)
        if len(shape) != 2:
            raise ValueError(f'Student {what} must have shape (B, C), got {shape} for student 0.')
        for i, t in enumerate(tensors):
            if tuple(t.shape) != shape:
                raise ValueError(
                    f"All students' {what} must have the same (B, C) shape "
                    f'(same batch, same number of classes): student 0 has '
                    f'{shape}, student {i} has {tuple(t.shape)}.'
                )
        if tuple(labels.shape) != shape[:1]:
            raise ValueError(
                f'labels must have shape (B,) = ({shape[0]},), got '
                f'{tuple(labels.shape)}; pass class indices (argmax of soft '
                f'or mixed labels).'
            )
        if labels.dtype.is_floating_point or labels.dtype.is_complex or labels.dtype == torch.bool:
            raise ValueError(
                f'labels must be integer class indices, got dtype '
                f'{labels.dtype}; pass argmax of soft or mixed labels.'
            )

    def stack(self, logits: Sequence[Tensor], labels: Tensor) -> Tensor:
        """Validate the inputs and return the detached logits as fp32 (fp64 stays) (N, B, C)."""
        self.check_inputs(logits, labels)
        return at_least_fp32(torch.stack([z.detach() for z in logits]))

    def finite(self, z: Tensor) -> Tensor:
        """(N, B) bool for the stacked logits ``z``: which students take part in each sample's
        ensemble (all of them when :attr:`isolate_nonfinite` is off)."""
        if not self.isolate_nonfinite:
            return torch.ones(z.shape[:2], dtype=torch.bool, device=z.device)
        return finite_students(z)

    @staticmethod
    def left_out_as(z: Tensor, finite: Tensor, value: float) -> Tensor:
        """``z`` (N, B, ...) with the rows of students left out of a sample set to ``value``:
        0 drops them from a sum, +inf from a minimum."""
        keep = finite.view(*finite.shape, *([1] * (z.dim() - 2)))
        return z.where(keep, torch.full((), value, dtype=z.dtype, device=z.device))

    @staticmethod
    def no_target_where_none_finite(target: Tensor, finite: Tensor) -> Tensor:
        """``target`` (B, C) with NaN rows for the samples on which no student is finite."""
        return target.where(finite.any(dim=0)[:, None], float('nan'))

    def per_finite_subset(
        self, z: Tensor, labels: Tensor, combine: Callable[[Tensor, Tensor], Tuple[Tensor, Tensor]]
    ) -> Tuple[Tensor, List[Tensor]]:
        """Run a batch-level ``combine`` once per group of samples that share their finite
        students, over those students and samples only.

        ``combine(z_F, labels_S) -> (target_S, weights_F)`` gets the (|F|, |S|, C) logits of
        the students F finite on the samples S. Returns the (B, C) target (NaN rows where no
        student is finite) and each group's weights as an (N,) tensor, 0 for the students left
        out of it, largest group first (one all-zero entry when no student is finite anywhere).
        When every student is finite on every sample (checked with one host synchronisation)
        ``combine`` runs once on the whole batch.
        """
        finite = self.finite(z)
        num_students = z.shape[0]
        if bool(finite.all()):
            target, weights = combine(z, labels)
            return target, [weights]
        target = torch.full(z.shape[1:], float('nan'), dtype=z.dtype, device=z.device)
        codes = subset_codes(finite)
        values, sizes = codes.unique(return_counts=True)
        groups = []
        for code, size in sorted(zip(values.tolist(), sizes.tolist()), key=lambda g: -g[1]):
            students = [i for i in range(num_students) if code >> i & 1]
            if not students:
                continue  # no finite student: no target
            samples = (codes == code).nonzero().squeeze(1)
            index = torch.tensor(students, device=z.device)
            rows, weights = combine(z[index][:, samples], labels[samples])
            target[samples] = rows
            groups.append(z.new_zeros(num_students).index_copy(0, index, weights.to(z.dtype)))
        return target, groups or [z.new_zeros(num_students)]
