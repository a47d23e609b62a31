"""What the runtime keeps of every training iteration, kept once for all its parts.

The divergence guard puts a student's buffers back when its step is skipped; the emergency
checkpoint puts them back when training raises. Both need the buffers as they were when the
last iteration completed, which, inside an epoch, is also how the next one finds them (only its
batch is loaded in between). So they share one :class:`IterationState` per model: one
snapshot, allocated once and refreshed by one fused copy when an iteration completes, taken
again only where something may have changed the buffers since (the hooks and validation
between epochs: GeneralWeightsHook re-estimates its weights there).

Under several processes the ranks have several things to agree on every iteration; every
flag that can wait for the optimiser step rides on the guard's one all-reduce there
(:meth:`IterationState.vote`): a preemption signal is one. Whether every rank loaded its batch
cannot wait (a rank without one would leave the others in DDP's gradient all-reduce), so the
loop agrees on it before the forward pass.
"""

import weakref
from typing import Callable, Dict, Hashable, Optional

import torch

from .model_state import BufferSnapshot

_STATES: 'weakref.WeakKeyDictionary[torch.nn.Module, IterationState]' = weakref.WeakKeyDictionary()


class IterationState:
    """The buffer snapshot of a model's iterations and the flags its ranks agree on."""

    def __init__(self, model: torch.nn.Module):
        self.buffers = BufferSnapshot(model)
        self._taken_at: Optional[Hashable] = None
        self._votes: Dict[str, Callable[[], bool]] = {}
        self._agreed: Dict[str, bool] = {}
        self._agreed_at: Optional[int] = None

    @classmethod
    def of(cls, model: torch.nn.Module) -> 'IterationState':
        """The one state of ``model`` (an unwrapped model)."""
        state = _STATES.get(model)
        if state is None:
            state = _STATES[model] = cls(model)
        return state

    # ---- the buffers ----

    def snapshot(self, at: Hashable) -> None:
        """Copy the buffers, unless they were copied already at ``at`` (``(epoch, iter)``:
        the same iteration boundary inside an epoch)."""
        if at != self._taken_at:
            self.buffers.take()
            self._taken_at = at

    def restore(self, keep: Optional[Callable[[str], bool]] = None) -> None:
        """Put back the buffers of the snapshot (those whose names ``keep`` selects)."""
        self.buffers.restore(keep)

    # ---- what the ranks agree on ----

    def vote(self, name: str, flag: Callable[[], bool]) -> None:
        """Have ``flag()`` (this rank's bool) agreed on with the step's all-reduce: every rank
        then reads :meth:`agreed` true if it was true on any rank."""
        self._votes[name] = flag

    def ballot(self) -> torch.Tensor:
        """This rank's votes as an int tensor, 0 where a flag is set (the step's all-reduce
        takes the minimum of everything it agrees on)."""
        return torch.tensor([0 if flag() else 1 for flag in self._votes.values()], dtype=torch.int)

    def count(self, iteration: int, ballot) -> None:
        """Record the agreed ballot (a list of ints) of ``iteration``."""
        self._agreed = {name: not value for name, value in zip(self._votes, ballot)}
        self._agreed_at = iteration

    def agreed(self, name: str, iteration: int) -> Optional[bool]:
        """Whether any rank set ``name`` at ``iteration``'s step, or None when that step did
        not agree on it (no guard, or an iteration of an accumulation window without a step)."""
        if self._agreed_at != iteration or name not in self._agreed:
            return None
        return self._agreed[name]
