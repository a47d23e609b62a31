"""Deterministic cost counters for tests (never timings): the aten operators a piece of code
dispatches, and the host reads it makes."""

import collections

from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode

#: Tensor methods that copy a value to the host (a device sync on a GPU tensor).
HOST_READS = {'tolist', 'item', '__bool__', 'cpu', '__int__', '__float__', 'numpy', '__index__'}


class AtenOps(TorchDispatchMode):
    """Counts the aten operators dispatched (each is host dispatch time; most launch a kernel
    on a GPU)."""

    def __init__(self):
        super().__init__()
        self.count = collections.Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.count[str(func)] += 1
        return func(*args, **(kwargs or {}))


class HostReads(TorchFunctionMode):
    """Counts the calls of :data:`HOST_READS` (on a CPU tensor they cost nothing, but the same
    call on a GPU tensor waits for the device)."""

    def __init__(self):
        super().__init__()
        self.count = collections.Counter()

    def __torch_function__(self, func, types, args=(), kwargs=None):
        name = getattr(func, '__name__', '')
        if name in HOST_READS:
            self.count[name] += 1
        return func(*args, **(kwargs or {}))
