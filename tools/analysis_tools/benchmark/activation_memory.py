"""Activation memory of one forward + backward, counted in bytes (deterministic, any device):
the default mode, the lean mode and each student alone (:func:`activation_peaks`), and the
largest batch a GPU's memory holds, estimated from them (:func:`estimated_max_batch`).

Two counters, because lean mode hides its activations from the first:

* :class:`SavedTensorBytes`: the tensors autograd saves for backward (saved-tensor hooks).
  Checkpointing's recomputation saves through its own hooks, so in lean mode this sees only
  the students' inputs;
* :class:`AllocatedBytes`: every tensor created and alive at once, recomputed activations and
  temporaries included (the CPU analogue of CUDA's ``max_memory_allocated``).
"""

import copy
import weakref
from contextlib import contextmanager
from typing import Callable, Dict

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

GIB = 2**30
#: GPU memory sizes of the estimated largest batch, and the share of each kept free.
GPU_GIB = (24, 40, 80)
MARGIN = 0.1


class SavedTensorBytes:
    """Peak bytes of the tensors autograd holds for backward, each storage counted once
    (views and reuses of one storage share it), while :meth:`track` is active."""

    def __init__(self):
        self.current = self.peak = 0
        self._refs: Dict[int, list] = {}

    def _pack(self, tensor):
        storage = tensor.untyped_storage()
        key = storage.data_ptr()
        entry = self._refs.setdefault(key, [storage.nbytes(), 0])
        if entry[1] == 0:
            self.current += entry[0]
            self.peak = max(self.peak, self.current)
        entry[1] += 1
        return _SavedHandle(self, key, tensor)

    def _release(self, key: int) -> None:
        entry = self._refs[key]
        entry[1] -= 1
        if entry[1] == 0:
            self.current -= entry[0]
            del self._refs[key]

    @contextmanager
    def track(self):
        with torch.autograd.graph.saved_tensors_hooks(self._pack, lambda handle: handle.tensor):
            yield self


class _SavedHandle:
    """What autograd keeps instead of a saved tensor; freed with the graph node holding it."""

    def __init__(self, counter: SavedTensorBytes, key: int, tensor):
        self.counter, self.key, self.tensor = counter, key, tensor

    def __del__(self):
        self.counter._release(self.key)


class AllocatedBytes(TorchDispatchMode):
    """Peak bytes of the tensors created inside the context that are alive at once: every
    operator output that is not a view of, or written into, an existing tensor, each storage
    counted until it is freed."""

    def __init__(self):
        super().__init__()
        self.current = self.peak = 0
        self._alive: Dict[int, weakref.ref] = {}

    def _freed(self, key: int, nbytes: int) -> None:
        self.current -= nbytes
        self._alive.pop(key, None)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if any(r.alias_info is not None for r in func._schema.returns):
            return out  # a view or an in-place/out= result: no new memory
        for tensor in tree_flatten(out)[0]:
            if not isinstance(tensor, torch.Tensor) or tensor.device.type == 'meta':
                continue
            storage = tensor.untyped_storage()
            key, nbytes = id(storage), storage.nbytes()
            if key in self._alive or not nbytes:
                continue
            self._alive[key] = weakref.ref(storage, lambda _, k=key, n=nbytes: self._freed(k, n))
            self.current += nbytes
            self.peak = max(self.peak, self.current)
        return out


def peak_bytes(fn: Callable[[], object]) -> dict:
    """``dict(saved=..., allocated=...)``: the two peaks (bytes) of one call of ``fn``."""
    saved, allocated = SavedTensorBytes(), AllocatedBytes()
    with saved.track(), allocated:
        fn()
    return dict(saved=saved.peak, allocated=allocated.peak)


def activation_peaks(model, views, samples) -> Dict[str, dict]:
    """Peak saved and allocated bytes of one ``KDCL.loss`` + backward in the default and the
    lean mode, and of each student's own loss + backward alone (``'<name> alone'``).

    Every gradient exists (zero) before each pass, so that ``allocated`` is the activations
    and temporaries, not the gradients, which every mode holds alike (:func:`state_bytes`);
    and lean mode has taken a step before, as in training from the second step on.
    """
    model.train()
    lean_before = model.lean

    def measured(fn):
        for p in model.parameters():
            p.grad = torch.zeros_like(p)
        result = peak_bytes(fn)
        model.zero_grad(set_to_none=True)
        return result

    def kdcl(lean: bool):
        model.lean = lean
        model.parse_losses(model.loss(views, samples))[0].backward()

    try:
        # Lean mode's buffer copies are allocated at its first step and kept (as optimiser
        # state is): a pass first, so that the measured one is a step like every later one.
        kdcl(True)
        model.zero_grad(set_to_none=True)
        peaks = {mode: measured(lambda: kdcl(mode == 'lean')) for mode in ('default', 'lean')}
    finally:
        model.lean = lean_before
    for name, student, view in zip(model.student_names, model.students, views):

        def alone(student=student, view=view):
            student.loss(view, copy.deepcopy(samples))['loss'].backward()

        peaks[f'{name} alone'] = measured(alone)
    return peaks


def state_bytes(model, optimizer) -> int:
    """Bytes of the parameters, their gradients and the optimiser's state (momentum, ...):
    what a step holds besides activations, the same in every mode."""
    state = [v for s in optimizer.state.values() for v in s.values() if torch.is_tensor(v)]
    return sum(t.numel() * t.element_size() for t in [*model.parameters()] * 2 + state)


def estimated_max_batch(gib: float, state: int, per_image: float, margin: float) -> int:
    """The largest batch whose activations fit ``gib`` GiB once the model state and a margin
    (CUDA context, cuDNN workspaces, fragmentation: ``margin`` of the memory plus 1 GiB) are
    taken: ``(memory - state - margin) / bytes per image``."""
    free = gib * GIB * (1 - margin) - GIB - state
    return max(0, int(free // per_image))


def activation_report(peaks: Dict[str, dict], students, state: int, batch_size: int) -> dict:
    """The peaks with each one's ratio to the largest student alone and to the students' sum,
    the model state, and per GPU memory size the estimated largest batch of each mode."""
    alone = [peaks[f'{name} alone'] for name in students]
    modes = {mode: dict(peak) for mode, peak in peaks.items()}
    for key in ('saved', 'allocated'):
        largest, total = max(a[key] for a in alone), sum(a[key] for a in alone)
        for mode in modes.values():
            mode.update(
                {f'{key}_x_largest': mode[key] / largest, f'{key}_x_sum': mode[key] / total}
            )
    per_image = {mode: peaks[mode]['allocated'] / batch_size for mode in ('default', 'lean')}
    estimate = {
        f'{gib} GiB': {m: estimated_max_batch(gib, state, b, MARGIN) for m, b in per_image.items()}
        for gib in GPU_GIB
    }
    margin = f'{MARGIN:.0%} of the memory + 1 GiB'
    return dict(
        batch_size=batch_size,
        state_bytes=state,
        modes=modes,
        margin=margin,
        estimated_max_batch=estimate,
    )
