"""Common input checks for soft-target generators."""
from typing import Sequence

import torch
from torch import Tensor, nn


class BaseSoftTarget(nn.Module):
    """Builds one soft target (B, C) from the logits of N >= 2 students.

    Subclasses implement ``forward(logits, labels)`` under ``torch.no_grad()``
    and start it with :meth:`stack`, so the target never carries gradient.
    """

    #: Whether the generator needs weights estimated on held-out data.
    requires_heldout = False

    @staticmethod
    def check_inputs(tensors: Sequence[Tensor], labels: Tensor,
                     what: str = 'logits') -> None:
        """Raise ValueError unless ``tensors`` are >= 2 equal (B, C) tensors
        and ``labels`` is an integer (B,) tensor."""
        if not isinstance(tensors, (list, tuple)) or len(tensors) < 2:
            n = len(tensors) if isinstance(tensors, (list, tuple)) else 'not a list'
            raise ValueError(
                f'A soft target needs a list of {what} from at least 2 '
                f'students, got {n}; give the KDCL classifier two or more '
                f'students.')
        shape = tuple(tensors[0].shape)
        if len(shape) != 2:
            raise ValueError(f'Student {what} must have shape (B, C), got '
                             f'{shape} for student 0.')
        for i, t in enumerate(tensors):
            if tuple(t.shape) != shape:
                raise ValueError(
                    f'All students\' {what} must have the same (B, C) shape '
                    f'(same batch, same number of classes): student 0 has '
                    f'{shape}, student {i} has {tuple(t.shape)}.')
        if tuple(labels.shape) != shape[:1]:
            raise ValueError(
                f'labels must have shape (B,) = ({shape[0]},), got '
                f'{tuple(labels.shape)}; pass class indices (argmax of soft '
                f'or mixed labels).')
        if labels.dtype.is_floating_point or labels.dtype.is_complex \
                or labels.dtype == torch.bool:
            raise ValueError(
                f'labels must be integer class indices, got dtype '
                f'{labels.dtype}; pass argmax of soft or mixed labels.')

    def stack(self, logits: Sequence[Tensor], labels: Tensor) -> Tensor:
        """Validate the inputs and return the detached logits as (N, B, C)."""
        self.check_inputs(logits, labels)
        return torch.stack([z.detach() for z in logits])
