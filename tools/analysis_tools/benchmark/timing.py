"""Timing: synchronised step timers, step statistics, the KDCL / Σ(students alone) ratios
and the data pipeline's throughput."""

import math
import time
from typing import Callable, Dict, Sequence

import numpy as np
import torch
from torch.utils.data import ConcatDataset

from tools.common.stats import summarize

from .config_data import BenchmarkData


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


def overhead_ratios(
    step_stats: Dict[str, dict], generators: Sequence[str], students: Sequence[str]
) -> Dict[str, float]:
    """median(KDCL with generator g) / Σ_i median(student i alone), per generator."""
    solo = sum(step_stats[f'solo/{s}']['median_ms'] for s in students)
    return {g: step_stats[f'kdcl/{g}']['median_ms'] / solo for g in generators}


def paired_ratios(
    times: Dict[str, Sequence[float]],
    generators: Sequence[str],
    students: Sequence[str],
    rounds: int,
) -> Dict[str, dict]:
    """The same ratio within each round (per-round medians), summarised over rounds.

    Rounds last seconds, so a load change between rounds cancels out of these; their
    spread shows how far the machine's noise moves the ratio.
    """

    def per_round(arm):
        return np.median(np.asarray(times[arm]).reshape(rounds, -1), axis=1)

    solo = sum(per_round(f'solo/{s}') for s in students)
    out = {}
    for g in generators:
        stats = summarize(per_round(f'kdcl/{g}') / solo)
        out[g] = dict(median=stats['median'], q1=stats['q1'], q3=stats['q3'])
    return out


def pipeline_batch_seconds(loader, num_batches: int) -> float:
    """Mean seconds per batch after the first (which pays for worker start-up)."""
    batches = iter(loader)
    next(batches)
    start = time.perf_counter()
    for _ in range(num_batches):
        next(batches)
    return (time.perf_counter() - start) / num_batches


def repeat_to(dataset_len: int, batch_size: int, num_batches: int) -> int:
    """How often to repeat a dataset so that it yields ``num_batches`` + 1 batches."""
    return max(1, math.ceil(batch_size * (num_batches + 1) / dataset_len))


def repeated(dataset, times: int):
    """Enough samples for the timed batches of small datasets (MNIST's 300 digits)."""
    return dataset if times == 1 else ConcatDataset([dataset] * times)


def pipeline_report(
    times: dict,
    data: BenchmarkData,
    step_stats: dict,
    generators: Sequence[str],
    batches_per_round: int,
) -> dict:
    """Per pipeline: ms per batch and images/s; whether the multi-view one starves training."""
    out = dict(
        num_workers=data.num_workers,
        batch_size=data.batch_size,
        batches_per_round=batches_per_round,
    )
    for name, seconds in times.items():
        stats = ms_summary(seconds)
        out[name] = dict(stats, images_per_s=data.batch_size / (stats['median_ms'] / 1e3))
    out['multi_over_single'] = out['multi_view']['median_ms'] / out['single_view']['median_ms']
    fastest = min(step_stats[f'kdcl/{g}']['median_ms'] for g in generators)
    out['fastest_kdcl_step_ms'] = fastest
    # The time between batches the loader delivers when nothing else runs: with workers
    # they overlap training, and only a longer interval than a step starves it; without
    # workers the pipeline runs in series and adds its time to every step.
    out['pipeline_ms_per_step'] = out['multi_view']['median_ms']
    out['bottleneck'] = out['pipeline_ms_per_step'] >= fastest
    out['share_of_step'] = (
        out['multi_view']['median_ms'] / (out['multi_view']['median_ms'] + fastest)
        if data.num_workers == 0
        else None
    )
    return out
