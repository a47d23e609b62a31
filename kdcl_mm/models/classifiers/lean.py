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

import weakref
from contextlib import contextmanager
from typing import List, Optional

import torch
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint


def _copy(destinations: List[Tensor], sources: List[Tensor]) -> None:
    """One fused copy (``torch._foreach_copy_``: one operator, one multi-tensor kernel on a
    GPU where torch has it) instead of one ``copy_`` per buffer."""
    with torch.no_grad():
        if hasattr(torch, '_foreach_copy_'):
            torch._foreach_copy_(destinations, sources)
        else:  # torch < 2.1
            for d, s in zip(destinations, sources):
                d.copy_(s)


def _matches(copies: List[Tensor], buffers: List[Tensor]) -> bool:
    return len(copies) == len(buffers) and all(
        c.shape == b.shape and c.dtype == b.dtype and c.device == b.device
        for c, b in zip(copies, buffers)
    )


class _Slot:
    """The buffers' values before one forward and after it, in storage reused step after step."""

    def __init__(self):
        self.before: Optional[List[Tensor]] = None
        self.after: Optional[List[Tensor]] = None

    @staticmethod
    def fill(copies: Optional[List[Tensor]], buffers: List[Tensor]) -> List[Tensor]:
        """``copies`` holding ``buffers``' values: one fused copy into them when they fit,
        else newly allocated clones (the first step, or buffers that changed)."""
        if copies is not None and _matches(copies, buffers):
            if buffers:
                _copy(copies, buffers)
            return copies
        with torch.no_grad():
            return [b.clone() for b in buffers]


class BufferReplay:
    """Context managers for checkpoint's ``context_fn``: the recomputation of a module starts
    from its buffers before the forward and leaves them as the forward left them.

    One per module (:func:`buffer_replay`), kept across steps: the copies are made into
    storage allocated once, one fused copy for each of the four moves (the snapshot before
    the forward; at the recomputation the snapshot after it, the load of the one before, and
    the load of the one after), where one ``detach`` + ``clone`` or ``copy_`` per buffer cost
    six operators per buffer and step. Slots not in use wait in a free list, so that several
    forwards of one module before its backward each keep their own. Nothing here holds the
    module: the registry of :func:`buffer_replay` is keyed weakly by it.
    """

    def __init__(self):
        self._free: List[_Slot] = []

    def contexts(self, module: nn.Module):
        slot = self._free.pop() if self._free else _Slot()
        return self._forward(module, slot), self._recompute(module, slot)

    @contextmanager
    def _forward(self, module: nn.Module, slot: _Slot):
        slot.before = _Slot.fill(slot.before, list(module.buffers()))
        yield

    @contextmanager
    def _recompute(self, module: nn.Module, slot: _Slot):
        buffers = list(module.buffers())
        slot.after = _Slot.fill(slot.after, buffers)
        if buffers:
            _copy(buffers, slot.before)
        try:
            yield
        finally:
            # Also when checkpoint stops the recomputation early (it raises to do so).
            if buffers:
                _copy(buffers, slot.after)
            if all(free is not slot for free in self._free):
                self._free.append(slot)


_REPLAYS: 'weakref.WeakKeyDictionary[nn.Module, BufferReplay]' = weakref.WeakKeyDictionary()


def buffer_replay(module: nn.Module) -> BufferReplay:
    """The module's :class:`BufferReplay` (created at its first lean forward)."""
    replay = _REPLAYS.get(module)
    if replay is None:
        replay = _REPLAYS[module] = BufferReplay()
    return replay


def recomputed_forward(student: nn.Module, view: Tensor) -> Tensor:
    """``student(view)``, keeping only ``view`` for backward, which recomputes the rest."""
    if not torch.is_grad_enabled():  # validation, General's held-out pass: no graph to spare
        return student(view)
    replay = buffer_replay(student)
    return checkpoint(
        student,
        view,
        use_reentrant=False,
        preserve_rng_state=True,
        context_fn=lambda: replay.contexts(student),
    )
