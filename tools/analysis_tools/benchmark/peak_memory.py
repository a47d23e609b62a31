"""Peak memory of one training step per arm: CUDA's ``max_memory_allocated``, or on CPU the
process's peak RSS (``VmHWM`` reset through ``/proc/self/clear_refs``, freed heap returned with
glibc ``malloc_trim`` first). Activation bytes per mode are in :mod:`.activation_memory`."""

import ctypes
import gc
import resource
from typing import Callable, List, Optional

import torch

from .step_overhead import Arm


class PeakMemory:
    """Peak memory of one call: CUDA max allocated, or CPU peak RSS (VmHWM, reset
    through /proc/self/clear_refs; the process-wide ru_maxrss where that fails).

    On CPU, freed memory is first handed back to the OS (glibc ``malloc_trim``): RSS
    would otherwise still hold the earlier arms' peaks and hide this call's.
    """

    def __init__(self, device: str):
        self.cuda = device.startswith('cuda')
        self.device = device
        self.kind = 'cuda max_memory_allocated'
        if not self.cuda:
            self.kind = (
                'cpu peak RSS (VmHWM, reset per arm)'
                if self._reset_hwm()
                else 'cpu peak RSS of the process (ru_maxrss; not per arm)'
            )

    @staticmethod
    def _reset_hwm() -> bool:
        try:
            with open('/proc/self/clear_refs', 'w') as f:
                f.write('5')
            return True
        except OSError:
            return False

    @staticmethod
    def _status_mb(key: str) -> Optional[float]:
        try:
            with open('/proc/self/status') as f:
                for line in f:
                    if line.startswith(key + ':'):
                        return int(line.split()[1]) / 1024
        except OSError:
            pass
        return None

    def measure(self, fn: Callable[[], object]) -> dict:
        """``peak_mb`` during ``fn()`` and ``step_increase_mb`` over the memory before it."""
        gc.collect()
        if self.cuda:
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            before = torch.cuda.memory_allocated(self.device) / 2**20
            fn()
            torch.cuda.synchronize(self.device)
            peak = torch.cuda.max_memory_allocated(self.device) / 2**20
        else:
            malloc_trim()
            self._reset_hwm()
            before = self._status_mb('VmRSS')
            fn()
            peak = self._status_mb('VmHWM')
            if peak is None or before is None:
                before, peak = None, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return dict(peak_mb=peak, step_increase_mb=None if before is None else peak - before)


def peak_memory(arms: List[Arm], batch: dict, device: str) -> dict:
    """``kind`` and, per arm, the peak memory of one step (after the timing)."""
    peak = PeakMemory(device)
    measured = {a.name: peak.measure(lambda a=a: a.timed_step(batch, device)) for a in arms}
    return dict(kind=peak.kind, arms=measured)


def malloc_trim() -> None:
    """Return freed heap to the OS (glibc only; a no-op elsewhere)."""
    try:
        ctypes.CDLL('libc.so.6').malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass
