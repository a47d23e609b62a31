"""One benchmark run: build the arms, time them round-robin with the pipelines and General's
estimate, measure peak memory, and assemble the report (see ``report.format_markdown``)."""

import os
import random
import time
from dataclasses import asdict
from typing import Callable, List, Optional, Tuple

import numpy as np
import torch
from mmengine.config import Config
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope

from tools.common.machine import describe_machine, load_average

from .arms import build_arms, round_robin
from .config_data import BenchmarkData, single_view_pipeline
from .general import GeneralEstimate
from .memory import PeakMemory
from .presets import BenchmarkSettings
from .report import check_targets
from .timing import (
    ms_summary,
    overhead_ratios,
    paired_ratios,
    pipeline_batch_seconds,
    pipeline_report,
    repeat_to,
    repeated,
    timed,
)


def load_kdcl_config(path: str) -> Config:
    """The config, checked to be a KDCL one, with its default scope set."""
    cfg = Config.fromfile(path)
    if cfg.model.get('type') != 'KDCL':
        raise ValueError(
            f'{path}: model.type is {cfg.model.get("type")!r}; the '
            'benchmark needs a KDCL config (model.type="KDCL").'
        )
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    return cfg


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _warn_if_busy(settings: BenchmarkSettings, busy: float, logger: MMLogger) -> None:
    threads = torch.get_num_threads()
    if settings.device == 'cpu' and busy + threads > (os.cpu_count() or 1) + 0.5:
        advice = ' or --threads 1' if threads > 1 else ''
        logger.warning(
            f'The 1-min load average is {busy:.2f} on {os.cpu_count()} cores: other '
            f'jobs compete with the {threads} torch thread(s), so '
            f'timings will be noisy. Prefer a quiet machine{advice}.'
        )


def run_benchmark(settings: BenchmarkSettings, logger: Optional[MMLogger] = None) -> dict:
    """Measure every arm round-robin and return the report (see ``report.format_markdown``)."""
    settings.check()
    logger = logger or MMLogger.get_instance('kdcl_benchmark', log_level='INFO')
    started, load_before = time.time(), load_average()
    cfg = load_kdcl_config(settings.config)
    threads_before = torch.get_num_threads()
    if settings.threads:
        torch.set_num_threads(settings.threads)
    try:
        return _measure(settings, logger, cfg, started, load_before)
    finally:  # a library call must not leave its caller with another thread count
        torch.set_num_threads(threads_before)


def _measure(settings: BenchmarkSettings, logger, cfg, started: float, load_before) -> dict:
    _warn_if_busy(settings, load_before[0], logger)
    seed_everything(settings.seed)
    if settings.device.startswith('cuda'):
        torch.backends.cudnn.benchmark = True  # fixed input size

    arms, students = build_arms(cfg, settings)
    kdcl = {a.name.split('/', 1)[1]: a for a in arms if a.name.startswith('kdcl/')}
    data = BenchmarkData(cfg, settings, next(iter(kdcl.values())).model.num_classes)
    logger.info(
        f'Arms: {", ".join(a.name for a in arms)}; batch {data.batch_size}, '
        f'{settings.rounds} rounds x {settings.steps_per_round} steps, '
        f'{settings.warmup_steps} warm-up steps, device {settings.device}, '
        f'amp {settings.amp}, channels_last {settings.channels_last}'
    )

    multi_view = data.dataset(data.train_pipeline)
    batches = data.first_batches(multi_view, settings.cached_batches)
    pipeline_batches = max(settings.pipeline_batches, 4 * data.num_workers)
    repeats = repeat_to(len(multi_view), data.batch_size, pipeline_batches)
    pipelines = {
        'multi_view': data.loader(repeated(multi_view, repeats)),
        'single_view': data.loader(
            repeated(data.dataset(single_view_pipeline(data.train_pipeline)), repeats)
        ),
    }

    estimate = None
    if 'General' in kdcl:
        estimate = GeneralEstimate(kdcl['General'].model, data, settings.heldout_ratio)

    logger.info('Warm-up (not timed)')
    if estimate is not None:
        estimate.run()  # as GeneralWeightsHook does before the first epoch
    for arm in arms:
        for i in range(settings.warmup_steps):
            arm.step(batches[i % len(batches)])

    # One unit of work: `steps_per_round` steps of one arm, a pipeline's batches, or one
    # General estimate. Every round visits every unit, in a shuffled order.
    units: List[Tuple[str, Callable[[], None]]] = []
    step_index = [0]

    def train_unit(arm):
        def run():
            for _ in range(settings.steps_per_round):
                batch = batches[step_index[0] % len(batches)]
                step_index[0] += 1
                arm.times.append(timed(lambda: arm.step(batch), settings.device))

        return run

    pipeline_times = {k: [] for k in pipelines}
    estimate_times = []
    units += [(a.name, train_unit(a)) for a in arms]
    units += [
        (
            f'pipeline/{k}',
            lambda k=k: pipeline_times[k].append(
                pipeline_batch_seconds(pipelines[k], pipeline_batches)
            ),
        )
        for k in pipelines
    ]
    if estimate is not None:
        units.append(
            (
                'general/estimate',
                lambda: estimate_times.append(timed(estimate.run, settings.device)),
            )
        )

    logger.info(f'Timing {len(units)} units x {settings.rounds} rounds')
    load_per_round = round_robin(units, settings.rounds, settings.seed)

    logger.info('Peak memory, one step per arm')
    peak = PeakMemory(settings.device)
    memory = {a.name: peak.measure(lambda a=a: a.step(batches[0])) for a in arms}

    step_stats = {a.name: ms_summary(a.times) for a in arms}
    times = {a.name: a.times for a in arms}
    report = dict(
        settings=dict(asdict(settings), batch_size=data.batch_size, num_workers=data.num_workers),
        machine=describe_machine(),
        load_average_before=load_before,
        load_average_after=load_average(),
        load_average_1min_per_round=load_per_round,
        duration_s=round(time.time() - started, 1),
        students=students,
        generators=list(settings.generators),
        train_step=step_stats,
        ratios=overhead_ratios(step_stats, settings.generators, students),
        paired_ratios=paired_ratios(times, settings.generators, students, settings.rounds),
        memory=dict(kind=peak.kind, arms=memory),
        pipeline=pipeline_report(
            pipeline_times, data, step_stats, settings.generators, pipeline_batches
        ),
    )
    if estimate is not None:
        report['general_estimate'] = estimate.report(
            estimate_times, step_stats['kdcl/General'], report['pipeline'], data
        )
    report['targets'] = check_targets(
        report, settings.ratio_targets, settings.general_fraction_target
    )
    return report
