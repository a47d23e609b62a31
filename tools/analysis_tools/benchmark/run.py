"""One benchmark run from settings to report, in either mode (:mod:`.settings`):
:func:`run_benchmark` for ``overhead``, :func:`run_gpu_check` for ``gpu_check``. Both build the
arms, warm them up and time them round-robin (:mod:`.timing`, :mod:`.step_overhead`), and
measure the loader (:mod:`.loader_cost`), memory (:mod:`.peak_memory`,
:mod:`.activation_memory`) and General's estimate (:mod:`.general_estimate`); :mod:`.report`
renders what they return."""

import dataclasses
import gc
import glob
import os
import os.path as osp
import resource
import tempfile
import time
from typing import Optional

import torch
from mmengine.config import Config
from mmengine.dataset import RepeatDataset
from mmengine.logging import MMLogger
from mmengine.registry import init_default_scope
from mmengine.runner import set_random_seed

from kdcl_mm.datasets.dataset_cfg import innermost_dataset_cfg
from tools.common.machine import describe_machine, load_average

from . import general_estimate, gpu_arms, iteration, loader_cost, step_overhead, timing
from .activation_memory import activation_peaks, activation_report, state_bytes
from .data import (
    BenchmarkData,
    defers_distortion,
    make_photo_jpegs,
    single_view_pipeline,
    synthetic_batch,
    view_pipelines,
)
from .peak_memory import peak_memory
from .report import check_targets
from .settings import GPU_CHECK_FIELDS, PRECISIONS, BenchmarkSettings


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
        return _overhead(settings, logger, cfg, started, load_before)
    finally:  # a library call must not leave its caller with another thread count
        torch.set_num_threads(threads_before)


def _overhead(settings: BenchmarkSettings, logger, cfg, started: float, load_before) -> dict:
    _warn_if_busy(settings, load_before[0], logger)
    set_random_seed(settings.seed)
    if settings.device.startswith('cuda'):
        torch.backends.cudnn.benchmark = True  # fixed input size

    arms, students = step_overhead.build_arms(cfg, settings)
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
    repeats = loader_cost.repeat_to(len(multi_view), data.batch_size, pipeline_batches)
    single_view = data.dataset(single_view_pipeline(data.train_pipeline))
    pipelines = {
        'multi_view': data.loader(RepeatDataset(multi_view, repeats)),
        'single_view': data.loader(RepeatDataset(single_view, repeats)),
    }
    estimate = None
    if 'General' in kdcl:
        estimate = general_estimate.GeneralEstimate(
            kdcl['General'].model, data, settings.heldout_ratio
        )

    logger.info('Warm-up (not timed)')
    if estimate is not None:
        estimate.run()  # as GeneralWeightsHook does before the first epoch
    step_overhead.warm_up(arms, batches, settings)
    runners, runner_scratch = iteration_arms(cfg, settings, batches, logger)

    # One unit of work: `steps_per_round` steps of one arm (train_step, or a Runner's
    # iteration), a pipeline's batches, or one General estimate. Every round visits every
    # unit, in a shuffled order.
    pipeline_times, loader_times = {}, {}
    units = step_overhead.step_units(arms + runners, batches, settings)
    units += loader_cost.pipeline_units(pipelines, pipeline_batches, pipeline_times)
    scratch = tempfile.TemporaryDirectory()  # the photos, unless settings name a folder
    photos = photo_paths(settings, scratch.name)
    loader = Config.fromfile(settings.loader_config).train_dataloader.to_dict()
    pipeline = innermost_dataset_cfg(loader['dataset'])['pipeline']
    units += loader_cost.photo_units(
        view_pipelines(pipeline, settings.loader_views), photos, loader_times
    )
    if estimate is not None:
        units.append(estimate.unit(settings.device))
    logger.info(f'Timing {len(units)} units x {settings.rounds} rounds')
    load_per_round = timing.round_robin(units, settings.rounds, settings.seed)
    scratch.cleanup()

    times = {a.name: a.times for a in arms + runners}
    finite = {a.name: a.finite for a in runners}
    if runner_scratch is not None:
        runner_scratch.cleanup(runners)  # the memory below is the bare arms'
    logger.info('Peak memory, one step per arm')
    memory = peak_memory(arms, batches[0], settings.device)
    step_stats = step_overhead.step_stats([a for a in arms if not a.name.startswith('lean/')])
    shown = {k: v for k, v in dataclasses.asdict(settings).items() if k not in GPU_CHECK_FIELDS}
    report = dict(
        settings=dict(shown, batch_size=data.batch_size, num_workers=data.num_workers),
        machine=describe_machine(),
        load_average_before=load_before,
        load_average_after=load_average(),
        load_average_1min_per_round=load_per_round,
        duration_s=round(time.time() - started, 1),
        students=students,
        generators=list(settings.generators),
        train_step=step_stats,
        ratios=step_overhead.overhead_ratios(step_stats, settings.generators, students),
        paired_ratios=step_overhead.paired_ratios(
            times, settings.generators, students, settings.rounds
        ),
        memory=memory,
        pipeline=loader_cost.pipeline_report(
            pipeline_times, data, step_stats, settings.generators, pipeline_batches
        ),
    )
    if estimate is not None:
        report['general_estimate'] = estimate.report(
            step_stats['kdcl/General'], report['pipeline'], data
        )
    if settings.lean:
        g = settings.generators[0]
        report['lean'] = step_overhead.lean_report(times, g, settings.rounds)
        logger.info('Activation bytes per mode, one forward + backward')
        report['activation_memory'] = lean_activations(kdcl[g], batches[0], students)
    if runner_scratch is not None:
        report['iteration'] = iteration.iteration_report(
            times, runner_scratch.generator, students, settings.rounds, finite
        )
    report['loader'] = loader_cost.loader_report(loader_times, photos)
    report['peak_rss_mb'] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    report['targets'] = check_targets(
        report, settings.ratio_targets, settings.general_fraction_target
    )
    return report


def iteration_arms(cfg: Config, settings: BenchmarkSettings, batches, logger=None):
    """The Runner-built arms of :mod:`.iteration`, warmed up, and their scratch (None and no
    arms unless ``settings.iteration``)."""
    if not settings.iteration:
        return [], None
    if logger is not None:
        logger.info('Runners for the iteration as shipped (hooks, train_step, loop)')
    runners, generator, scratch = iteration.build_iteration_arms(cfg, settings, batches)
    scratch.generator = generator
    step_overhead.warm_up(runners, batches, settings)
    return runners, scratch


def photo_paths(settings: BenchmarkSettings, scratch: str) -> list:
    """The JPEGs in ``settings.photos``, or photos written to ``scratch``."""
    if settings.photos:
        paths = sorted(glob.glob(osp.join(settings.photos, '*.jpg')))
        if not paths:
            raise FileNotFoundError(
                f'photos={settings.photos!r} holds no *.jpg; pass a folder of JPEGs'
            )
        return paths
    return make_photo_jpegs(scratch, settings.skimage_wheel)


def lean_activations(arm: step_overhead.Arm, batch: dict, students) -> dict:
    """Activation bytes of the KDCL arm's model in both modes and of each student alone, on
    one preprocessed batch, with what the model state (parameters, gradients, optimiser
    state after the timed steps) adds."""
    data = arm.model.data_preprocessor(batch, True)
    peaks = activation_peaks(arm.model, data['inputs'], data['data_samples'])
    state = state_bytes(arm.model, arm.optim_wrapper.optimizer)
    return activation_report(peaks, students, state, len(data['data_samples']))


def scale_lr(cfg: Config, batch_size: int) -> float:
    """The config's lr scaled linearly to one device's batch (its ``auto_scale_lr`` rule, as
    ``--auto-scale-lr`` would): the recipe's lr for 8 GPUs makes small batches diverge to
    NaN, which would hide what the GPU check looks for (precision trouble)."""
    base = (cfg.get('auto_scale_lr') or {}).get('base_batch_size')
    optimizer = cfg.optim_wrapper.optimizer
    if base:
        optimizer.lr = optimizer.lr * batch_size / base
    return optimizer.lr


def run_gpu_check(settings: BenchmarkSettings, peak_memory=peak_memory) -> dict:
    """Every precision with and without channels_last: the report of ``report.format_gpu_check``.

    A mode that fails is reported with its error and the others still run. ``peak_memory``
    (arms, batch, device) -> ``dict(kind, arms={name: dict(peak_mb, ...)})`` measures memory.
    """
    settings.check()
    started = time.time()
    cfg = load_kdcl_config(settings.config)
    lr = scale_lr(cfg, settings.batch_size)
    if settings.device == 'cuda':
        torch.backends.cudnn.benchmark = True  # fixed input size
    runs = []
    for precision in settings.precisions if 'modes' in settings.arms else ():
        for channels_last in (False, True):
            amp = PRECISIONS[precision]
            run = dict(mode=precision, amp=amp, channels_last=channels_last)
            print(f'gpu_check: {precision}, channels_last={channels_last} ...', flush=True)
            if amp and settings.device == 'cpu':
                runs.append(dict(run, status='skipped', reason='AmpOptimWrapper needs CUDA'))
                continue
            set_random_seed(settings.seed)
            mode = dataclasses.replace(settings, amp=amp, channels_last=channels_last)
            try:
                run.update(_precision(cfg, mode, peak_memory))
            except Exception as err:  # one failing mode must not hide the others' numbers
                run.update(status='error', reason=f'{type(err).__name__}: {err}')
            finally:
                gc.collect()
                if settings.device == 'cuda':
                    torch.cuda.empty_cache()
            runs.append(run)
    extra = other_arms(cfg, settings, peak_memory)
    s = settings
    return dict(
        settings=dict(
            dry=s.quick,
            arms=list(s.arms),
            batch_sizes=list(s.batch_sizes),
            config=s.config,
            generator=s.generators[0],
            modes=list(s.precisions),
            batch_size=s.batch_size,
            image_size=s.image_size,
            warmup_steps=s.warmup_steps,
            rounds=s.rounds,
            steps_per_round=s.steps_per_round,
            seed=s.seed,
            device=s.device,
            lr=lr,
            cuda=torch.version.cuda,
            cudnn=torch.backends.cudnn.version(),
            cudnn_allow_tf32=torch.backends.cudnn.allow_tf32,
            matmul_allow_tf32=torch.backends.cuda.matmul.allow_tf32,
        ),
        machine=describe_machine(),
        runs=runs,
        **extra,
        passed=all(r['status'] != 'error' and r.get('losses_finite', True) for r in runs)
        and gpu_arms.passed(extra),
        duration_s=round(time.time() - started, 1),
    )


def other_arms(cfg: Config, settings: BenchmarkSettings, peak_memory) -> dict:
    """The GPU check's arms besides its precision modes (:mod:`.gpu_arms`), as selected."""

    def run_mode(mode):
        set_random_seed(mode.seed)
        return _precision(cfg, mode, peak_memory)

    out = {}
    for arm, key, measure in (
        ('batch', 'batch_sweep', gpu_arms.batch_sweep),
        ('fused', 'fused_sgd', gpu_arms.fused_sgd),
        ('compile', 'compile', gpu_arms.compiled),
    ):
        if arm in settings.arms:
            print(f'gpu_check: {arm} ...', flush=True)
            out[key] = measure(settings, run_mode)
    if 'equality' in settings.arms:
        print('gpu_check: equality ...', flush=True)
        out['equality'] = gpu_arms.equality(cfg, settings)
    return out


def _precision(cfg: Config, settings: BenchmarkSettings, peak_memory) -> dict:
    """KDCL (also in lean mode) and each student alone on one synthetic batch on the device:
    warm-up, timing, memory, and whether every loss stayed finite."""
    arms, students = step_overhead.build_arms(cfg, settings)
    size, batch_size = settings.image_size, settings.batch_size
    classes = arms[0].model.num_classes
    # As the recipe's loader gives it: with each view's distortion rows where the recipe
    # defers them to the device (DeferredMultiView + deferred_distortion=True).
    deferred = defers_distortion(cfg)
    batch = synthetic_batch(
        batch_size, size, len(students), classes, seed=settings.seed, deferred_distortion=deferred
    )
    batch['inputs'] = [view.to(settings.device) for view in batch['inputs']]
    step_overhead.warm_up(arms, [batch], settings)
    runners, scratch = iteration_arms(cfg, settings, [batch])
    units = step_overhead.step_units(arms + runners, [batch], settings)
    timing.round_robin(units, settings.rounds, settings.seed, progress=False)
    stats = step_overhead.step_stats(arms)
    generator = settings.generators[0]
    shipped = None
    if scratch is not None:
        times = {a.name: a.times for a in arms + runners}
        finite = {a.name: a.finite for a in runners}
        scratch.cleanup(runners)  # the memory below is the bare arms'
        shipped = iteration.iteration_report(
            times, scratch.generator, students, settings.rounds, finite
        )
    memory = peak_memory(arms, batch, settings.device)
    arm_reports = {}
    for arm in arms:
        scaler = getattr(arm.optim_wrapper, 'loss_scaler', None)
        arm_reports[arm.name] = dict(
            stats[arm.name],
            images_per_s=batch_size / (stats[arm.name]['median_ms'] / 1e3),
            **memory['arms'][arm.name],
            losses_finite=arm.finite,
            last_losses=arm.last_losses,
            loss_scale=None if scaler is None else float(scaler.get_scale()),
        )
    lean = {}
    if settings.lean:  # beside the arms, whose keys stay those of the check without it
        lean = dict(arm_reports.pop(f'lean/{generator}'))
        default = arm_reports[f'kdcl/{generator}']
        lean.update(
            time_ratio=lean['median_ms'] / default['median_ms'],
            memory_ratio=lean['peak_mb'] / default['peak_mb'],
        )
    return dict(
        status='ok',
        lean=lean,
        students=students,
        arms=arm_reports,
        ratio=step_overhead.overhead_ratios(arm_reports, [generator], students)[generator],
        students_alone_ms=sum(arm_reports[f'solo/{s}']['median_ms'] for s in students),
        losses_finite=all(arm.finite for arm in arms)
        and all(a.get('losses_finite', True) for a in (shipped or {}).get('arms', {}).values()),
        memory_kind=memory['kind'],
        **({} if shipped is None else dict(iteration=shipped)),
    )
