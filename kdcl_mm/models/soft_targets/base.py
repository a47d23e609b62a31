"""Common input checks and the fp32 region shared by the soft-target generators."""

import contextlib
import functools
from typing import Callable, Sequence

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


class BaseSoftTarget(nn.Module):
    """Builds one soft target (B, C) from the logits of N >= 2 students.

    Subclasses implement ``forward(logits, labels)`` decorated with :func:`fp32_no_grad`
    and start it with :meth:`stack`, so the target never carries gradient and is fp32
    (computed in fp32 from the detached logits) also under autocast.
    """

    #: Whether the generator needs weights estimated on held-out data.
    requires_heldout = False

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
