"""How the benchmark times: units of work run round-robin over rounds in a freshly shuffled
order, so that load that comes and goes hits all of them alike; synchronised timing and
millisecond statistics. Each measurement module returns its units for :func:`round_robin`."""

import random
import time
from typing import Callable, List, Sequence, Tuple

import numpy as np
import torch
from mmengine.utils import ProgressBar

from tools.common.machine import load_average
from tools.common.stats import summarize

Unit = Tuple[str, Callable[[], None]]


def round_robin(units: List[Unit], rounds: int, seed: int, progress: bool = True) -> List[float]:
    """Run every unit once per round, in a fresh random order, so that load which comes
    and goes hits all units alike; returns the 1-min load average after each round."""
    order = random.Random(seed)
    bar = ProgressBar(len(units) * rounds) if progress else None
    load = []
    for _ in range(rounds):
        for _, run in order.sample(units, len(units)):
            run()
            if bar is not None:
                bar.update()
        load.append(load_average()[0])
    if bar is not None:
        print()
    return load


def sync(device: str) -> None:
    """Wait for queued CUDA work (a no-op on CPU), so a timer sees finished steps."""
    if device.startswith('cuda'):
        torch.cuda.synchronize(device)


def timed(fn: Callable[[], object], device: str) -> float:
    """Seconds of ``fn()``, synchronised on both sides."""
    sync(device)
    start = time.perf_counter()
    fn()
    sync(device)
    return time.perf_counter() - start


def ms_summary(seconds: Sequence[float]) -> dict:
    """Median, quartiles and IQR in milliseconds (``tools.common.stats.summarize``)."""
    stats = summarize(np.asarray(seconds, dtype=np.float64) * 1e3)
    return dict(
        median_ms=stats['median'],
        q1_ms=stats['q1'],
        q3_ms=stats['q3'],
        iqr_ms=stats['q3'] - stats['q1'],
        n=stats['n'],
    )
