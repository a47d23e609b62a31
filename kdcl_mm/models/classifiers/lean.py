"""KDCL's lean mode: each student's activations are rebuilt in backward, one student at a time.

The default step keeps every student's graph alive from its forward to the end of the one
backward, so its activation memory is the sum over students. In lean mode each student's
forward runs under non-reentrant activation checkpointing (:func:`torch.utils.checkpoint`):
nothing of its graph is kept but its input, and backward recomputes it when it reaches that
student. The autograd engine runs ready nodes latest-created first, so it finishes one
student's backward (recompute included) before it starts the next one's: the peak is the
largest student's activations plus the students' logits.

Why checkpointing and not a separate forward + backward per student: both cost one more
forward per student and hold the same peak (docs/benchmark.md, "Lean mode"), but
checkpointing leaves the step itself alone. ``loss`` and ``train_step`` stay the default
mode's code, so the logged values, the one ``optim_wrapper.backward`` per iteration
(accumulation counts, fp16 loss scale and its skip), the one ``step`` and any DDP wrapper
behave exactly as in the default mode; under DDP a later student's gradient buckets are
all-reduced while the earlier students are still being recomputed.

Why one DDP wrapper around the KDCL model and not one per student
(``MMSeparateDistributedDataParallel``): that wrapper wraps the model's children, and KDCL's
students sit in one ``ModuleList`` whose forward is never called, so its reducer would never
be prepared. A DDP wrapper per student would sit *inside* the checkpoint, and the
recomputation would re-enter DDP's forward in the middle of backward, which resets its
reducer. One wrapper already gives what per-student wrappers are for: DDP fills its buckets
in reverse parameter order, which is the order lean backward finishes the students in (last
student first), so each student's all-reduce overlaps the next student's recomputation.

What makes the recomputation replay the forward bit for bit:

* random state: torch's checkpoint restores the CPU generator and that of the input's
  device before recomputing, so dropout and drop-path draw the same masks;
* buffers: the recomputation starts from the buffers as they were before the forward and
  leaves them as the forward left them, so BatchNorm's running statistics are updated once
  per step, and layers that read their buffers in training see the same values;
* autocast: checkpoint recomputes under the forward's autocast state (bf16, fp16).
"""

from contextlib import contextmanager
from typing import List, Optional

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint


class BufferReplay:
    """Context managers for checkpoint's ``context_fn``: the recomputation of ``module``
    starts from its buffers before the forward and leaves them as the forward left them."""

    def __init__(self, module: nn.Module):
        self.module = module
        self._before: Optional[List[Tensor]] = None

    def _snapshot(self) -> List[Tensor]:
        return [b.detach().clone() for b in self.module.buffers()]

    def _load(self, values: List[Tensor]) -> None:
        with torch.no_grad():
            for buffer, value in zip(self.module.buffers(), values):
                buffer.copy_(value)

    @contextmanager
    def forward(self):
        self._before = self._snapshot()
        yield

    @contextmanager
    def recompute(self):
        after = self._snapshot()
        self._load(self._before)
        try:
            yield
        finally:
            # Also when checkpoint stops the recomputation early (it raises to do so).
            self._load(after)
            self._before = None

    def contexts(self):
        return self.forward(), self.recompute()


def recomputed_forward(student: nn.Module, view: Tensor) -> Tensor:
    """``student(view)``, keeping only ``view`` for backward, which recomputes the rest."""
    if not torch.is_grad_enabled():  # validation, General's held-out pass: no graph to spare
        return student(view)
    replay = BufferReplay(student)
    return checkpoint(
        student, view, use_reentrant=False, preserve_rng_state=True, context_fn=replay.contexts
    )
