"""Count each student's samples with non-finite logits, and warn once per student by name."""

import logging
from typing import List, Optional, Sequence, Tuple

from mmengine.logging import print_log
from torch import Tensor

from kdcl_mm.models.soft_targets.base import finite_students


class NonFiniteLogits:
    """Per-batch counts of the samples on which each student's logits are NaN or ±inf.

    KDCL logs the counts as ``{name}.nonfinite``; mmengine adds only keys containing 'loss'
    to the total loss, so they are logged, never optimised. The generators leave such
    students out of those samples' soft targets (kdcl_mm/models/soft_targets/base.py).

    The first occurrence per student is warned about once, naming it. Reading a count on the
    host makes the step wait for the device, so off the CPU the warning reads the previous
    step's counts: mmengine's logging has copied those to the host by then anyway.
    """

    def __init__(self, names: Sequence[str]):
        self.names = list(names)
        self.warned = [False] * len(self.names)
        self._unread: Optional[Tuple[Tensor, int]] = None

    def __call__(self, logits: List[Tensor]) -> Tuple[Tensor, Tensor]:
        """(N,) float counts of non-finite samples per student, and the (B,) bool mask of the
        samples on which at least one student is finite (those with a soft target)."""
        finite = finite_students([z.detach() for z in logits])
        counts = (~finite).sum(dim=1).float()
        if not all(self.warned):
            self._warn(self._unread)
            self._unread = (counts, finite.shape[1])
            if self.reads_now(counts):
                self._warn(self._unread)
        return counts, finite.any(dim=0)

    @staticmethod
    def reads_now(counts: Tensor) -> bool:
        """Whether reading ``counts`` now costs nothing (they are on the CPU)."""
        return counts.device.type == 'cpu'

    def _warn(self, unread: Optional[Tuple[Tensor, int]]) -> None:
        if unread is None:
            return
        self._unread = None
        counts, batch = unread
        for i, count in enumerate(counts.tolist()):
            if count and not self.warned[i]:
                self.warned[i] = True
                name = self.names[i]
                print_log(
                    f"KDCL: student '{name}' (model.students[{i}]) gave non-finite logits "
                    f'(NaN/inf) on {int(count)} of {batch} samples of a batch. It is left out of '
                    'the soft target on those samples, so the other students train on; its own '
                    f'loss is non-finite there. {name}.nonfinite logs the count per step; this '
                    'warning is given once per student.',
                    logger='current',
                    level=logging.WARNING,
                )
