"""What KDCL costs over training its students alone, measured in one process.

:func:`run_benchmark` times mmengine's full ``model.train_step(data, optim_wrapper)``
(preprocessing, forward, backward, optimiser step) of a KDCL model per soft-target
generator and of each student alone as an mmpretrain ``ImageClassifier`` on the same
batches. The arms run round-robin, several rounds, warm-up excluded, so machine noise
hits them alike. It also times the training data pipeline with one view per student
(``MultiView``) against one view, and ``GeneralWeightsHook.estimate`` over a held-out
split as a fraction of an epoch. :func:`write_report` saves JSON and a markdown table.
"""
import copy
import ctypes
import gc
import json
import math
import os
import os.path as osp
import platform
import random
import resource
import time
from dataclasses import asdict, dataclass, field
from types import SimpleNamespace
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.config import Config
from mmengine.logging import MessageHub, MMLogger
from mmengine.optim import build_optim_wrapper
from mmengine.registry import init_default_scope
from mmengine.runner import Runner
from mmengine.utils import ProgressBar
from mmpretrain.datasets import BaseDataset
from mmpretrain.registry import DATASETS, HOOKS, MODELS
from torch.utils.data import ConcatDataset

from kdcl_mm.datasets import HeldOutSplit
from kdcl_mm.engine.hooks.channels_last_hook import to_channels_last
from kdcl_mm.models.classifiers.students import resolve_students

#: Short name -> soft-target type, in the order the report lists them.
GENERATORS = {
    'Naive': 'NaiveSoftTarget',
    'Linear': 'LinearSoftTarget',
    'MinLogit': 'MinLogitSoftTarget',
    'General': 'GeneralSoftTarget',
    'Mean': 'MeanSoftTarget',
}
#: The issue's targets: KDCL / Σ(students alone) per generator, General's share of an epoch.
RATIO_TARGETS = {'Naive': 1.03, 'MinLogit': 1.03, 'Mean': 1.03, 'Linear': 1.05}
GENERAL_FRACTION_TARGET = 0.02
REPORT_FILES = ('benchmark.json', 'benchmark.md')

_CONFIG_DIR = osp.join(osp.dirname(osp.dirname(osp.abspath(__file__))), '.mim', 'configs')


@dataclass
class BenchmarkSettings:
    """What to measure and how often.

    Args:
        config: a KDCL training config; its students, data preprocessor, train and
            val dataloaders and optimiser are measured.
        batch_size / num_workers: override the config's train dataloader (None keeps it).
        synthetic_image_shape: (H, W) of random uint8 images that replace the config's
            dataset (no decoding); None uses the config's dataset.
        rounds, steps_per_round, warmup_steps: the round-robin schedule per arm.
        pipeline_batches: batches timed per round and pipeline (at least 4 per worker,
            so that batches the workers prefetched at start-up do not dominate).
        heldout_ratio / heldout_batch_size: the General held-out split and its loader
            batch size (None: the val dataloader's).
        amp: None, 'float16' or 'bfloat16' (mmengine ``AmpOptimWrapper``, CUDA only).
        channels_last: convert every model as ``ChannelsLastHook`` does.
        threads: torch intra-op threads (None: torch's default). On a CPU shared with
            other jobs, more threads than free cores make every op wait for a
            descheduled thread; 1 thread is then far less noisy.
    """
    config: str
    device: str = 'cpu'
    batch_size: Optional[int] = None
    num_workers: Optional[int] = None
    synthetic_image_shape: Optional[Tuple[int, int]] = None
    generators: Tuple[str, ...] = tuple(GENERATORS)
    rounds: int = 15
    steps_per_round: int = 3
    warmup_steps: int = 3
    pipeline_batches: int = 4
    cached_batches: int = 4
    heldout_ratio: float = 0.05
    heldout_batch_size: Optional[int] = None
    amp: Optional[str] = None
    channels_last: bool = False
    threads: Optional[int] = None
    seed: int = 0
    preset: str = 'custom'
    quick: bool = False

    def check(self) -> None:
        if not osp.isfile(self.config):
            raise FileNotFoundError(f'config {self.config!r} does not exist; pass a KDCL '
                                    'training config such as configs/kdcl/'
                                    'resnet18-w16_mbv2-w0.5_mnist.py')
        unknown = [g for g in self.generators if g not in GENERATORS]
        if unknown or not self.generators:
            raise ValueError(f'generators {unknown or "(none)"}: choose from {list(GENERATORS)}')
        for name in ('rounds', 'steps_per_round', 'pipeline_batches', 'cached_batches'):
            if getattr(self, name) < 1:
                raise ValueError(f'{name} must be >= 1, got {getattr(self, name)}')
        if self.threads is not None and self.threads < 1:
            raise ValueError(f'threads must be >= 1 or None, got {self.threads}')
        if self.warmup_steps < 0:
            raise ValueError(f'warmup_steps must be >= 0, got {self.warmup_steps}')
        if not 0 < self.heldout_ratio < 1:
            raise ValueError(f'heldout_ratio must be in (0, 1), got {self.heldout_ratio}')
        if self.amp not in (None, 'float16', 'bfloat16'):
            raise ValueError(f"amp must be None, 'float16' or 'bfloat16', got {self.amp!r}")
        if (self.amp or self.device.startswith('cuda')) and not torch.cuda.is_available():
            raise ValueError(f'device={self.device!r}, amp={self.amp!r} need CUDA, which this '
                             'machine lacks: run with --device cpu and without --amp.')


def preset_settings(preset: str = 'small', quick: bool = False, **overrides) -> BenchmarkSettings:
    """``small``: the embedded MNIST recipe (64x64, batch 32) on 1 CPU thread; ``imagenet``:
    ResNet-50 + MobileNetV2 at 224x224, batch 64, fp16 AMP, synthetic images.
    ``quick`` shrinks either to a run of seconds (batch 4, 2 rounds of 1 step)."""
    presets = {
        # One thread: on a CPU shared with other jobs, a second thread waits for a
        # descheduled peer on every op (measured: steps 10x slower, IQR > median).
        # 40 rounds: the per-round ratios spread by about ±2% on a shared machine, so the
        # medians need that many to resolve the 3% targets (about 3 minutes).
        'small': dict(config=osp.join(_CONFIG_DIR, 'kdcl', 'resnet18-w16_mbv2-w0.5_mnist.py'),
                      threads=1, rounds=40),
        'imagenet': dict(config=osp.join(_CONFIG_DIR, 'kdcl', 'r50_mbv2_imagenet.py'),
                         batch_size=64, synthetic_image_shape=(375, 500), amp='float16',
                         heldout_batch_size=64, rounds=10, pipeline_batches=10),
    }
    if preset not in presets:
        raise ValueError(f'preset must be one of {sorted(presets)}, got {preset!r}')
    values = dict(presets[preset], preset=preset, quick=quick)
    if quick:
        values.update(batch_size=4, rounds=2, steps_per_round=1, warmup_steps=1,
                      pipeline_batches=2, cached_batches=2)
    values.update({k: v for k, v in overrides.items() if v is not None})
    return BenchmarkSettings(**values)


class SyntheticImages(BaseDataset):
    """Random uint8 images (a small repeating pool) with random labels, for pipelines
    that would otherwise read a dataset this machine does not have."""

    def __init__(self, num_samples: int, image_shape: Tuple[int, int], num_classes: int,
                 pool_size: int = 32, seed: int = 0, **kwargs):
        rng = np.random.default_rng(seed)
        self.pool = rng.integers(0, 256, (pool_size, *image_shape, 3), dtype=np.uint8)
        self.labels = rng.integers(0, num_classes, num_samples)
        super().__init__(ann_file='', **kwargs)

    def load_data_list(self):
        return [dict(gt_label=int(label)) for label in self.labels]

    def get_data_info(self, idx: int) -> dict:
        info = super().get_data_info(idx)
        img = self.pool[info['sample_idx'] % len(self.pool)]
        return dict(info, img=img, img_shape=img.shape[:2], ori_shape=img.shape[:2])


# ----------------------------------------------------------------- statistics
def summarise(seconds: Sequence[float]) -> dict:
    """Median and quartiles in milliseconds (numpy's linear interpolation)."""
    ms = np.asarray(seconds, dtype=np.float64) * 1e3
    q1, median, q3 = np.percentile(ms, [25, 50, 75])
    return dict(median_ms=float(median), q1_ms=float(q1), q3_ms=float(q3),
                iqr_ms=float(q3 - q1), n=int(ms.size))


def overhead_ratios(step_stats: Dict[str, dict], generators: Sequence[str],
                    students: Sequence[str]) -> Dict[str, float]:
    """median(KDCL with generator g) / Σ_i median(student i alone), per generator."""
    solo = sum(step_stats[f'solo/{s}']['median_ms'] for s in students)
    return {g: step_stats[f'kdcl/{g}']['median_ms'] / solo for g in generators}


def paired_ratios(times: Dict[str, Sequence[float]], generators: Sequence[str],
                  students: Sequence[str], rounds: int) -> Dict[str, dict]:
    """The same ratio within each round (per-round medians), summarised over rounds.

    Rounds last seconds, so a load change between rounds cancels out of these; their
    spread shows how far the machine's noise moves the ratio.
    """
    def per_round(arm):
        return np.median(np.asarray(times[arm]).reshape(rounds, -1), axis=1)

    solo = sum(per_round(f'solo/{s}') for s in students)
    out = {}
    for g in generators:
        q1, median, q3 = np.percentile(per_round(f'kdcl/{g}') / solo, [25, 50, 75])
        out[g] = dict(median=float(median), q1=float(q1), q3=float(q3))
    return out


# ----------------------------------------------------------------- config helpers
def single_view_pipeline(pipeline: Sequence[dict]) -> List[dict]:
    """The pipeline with ``MultiView`` replaced by the transforms of one of its views."""
    out = []
    for t in pipeline:
        if isinstance(t, dict) and t.get('type') == 'MultiView':
            transforms = t['transforms']
            out.extend(copy.deepcopy(transforms[0] if isinstance(transforms[0], (list, tuple))
                                     else transforms))
        else:
            out.append(copy.deepcopy(t))
    return out


def _without_loading(pipeline: Sequence[dict]) -> List[dict]:
    return [copy.deepcopy(t) for t in pipeline if t.get('type') != 'LoadImageFromFile']


def _innermost_dataset(dataset: dict) -> dict:
    while 'dataset' in dataset and 'pipeline' not in dataset:
        dataset = dataset['dataset']
    return dataset


class _Data:
    """The config's datasets (or synthetic stand-ins) and dataloader settings."""

    def __init__(self, cfg: Config, settings: BenchmarkSettings, num_classes: int):
        train = cfg.train_dataloader.to_dict()
        self.batch_size = settings.batch_size or train['batch_size']
        self.num_workers = (train.get('num_workers', 0) if settings.num_workers is None
                            else settings.num_workers)
        dataset = _innermost_dataset(train['dataset'])
        self.train_pipeline = dataset['pipeline']
        self.test_pipeline = _innermost_dataset(cfg.val_dataloader.to_dict()['dataset'])['pipeline']
        self.heldout_batch_size = settings.heldout_batch_size or cfg.val_dataloader.batch_size
        self.seed = settings.seed
        if settings.synthetic_image_shape is None:
            self.source = {k: v for k, v in dataset.items() if k != 'pipeline'}
        else:
            self.train_pipeline = _without_loading(self.train_pipeline)
            self.test_pipeline = _without_loading(self.test_pipeline)
            self.source = dict(type=SyntheticImages, num_samples=20 * self.batch_size,
                               image_shape=tuple(settings.synthetic_image_shape),
                               num_classes=num_classes, seed=settings.seed)

    def dataset(self, pipeline):
        cfg = dict(self.source, pipeline=pipeline)
        if isinstance(cfg['type'], type):
            return cfg.pop('type')(**cfg)
        return DATASETS.build(cfg)

    def loader(self, dataset):
        return Runner.build_dataloader(
            dict(batch_size=self.batch_size, num_workers=self.num_workers, dataset=dataset,
                 sampler=dict(type='DefaultSampler', shuffle=True)), seed=self.seed)

    def first_batches(self, dataset, count: int) -> List[dict]:
        batches = []
        for batch in self.loader(dataset):
            batches.append(batch)
            if len(batches) == count:
                return batches
        return batches


# ----------------------------------------------------------------- arms
@dataclass
class _Arm:
    name: str
    model: torch.nn.Module
    optim_wrapper: object
    view: Optional[int] = None  # a student alone trains on this view of the batch
    times: List[float] = field(default_factory=list)

    def step(self, batch: dict) -> None:
        if self.view is not None:
            batch = dict(batch, inputs=batch['inputs'][self.view])
        self.model.train_step(batch, self.optim_wrapper)


def _optim_cfg(cfg: Config, settings: BenchmarkSettings, solo: bool) -> dict:
    optim = cfg.optim_wrapper.to_dict()
    if solo:
        # custom_keys name KDCL's `students.{i}.` prefixes, which a lone student lacks.
        optim.pop('paramwise_cfg', None)
    if settings.amp:
        optim.update(type='AmpOptimWrapper', dtype=settings.amp, loss_scale='dynamic')
    return optim


def _build_arms(cfg: Config, settings: BenchmarkSettings) -> Tuple[List[_Arm], List[str]]:
    model_cfg = cfg.model.to_dict()
    # As mmengine's Runner does: the config's top-level preprocessor fills the model's.
    preprocessor = dict(cfg.get('data_preprocessor') or {},
                        **(model_cfg.get('data_preprocessor') or {}))
    preprocessor.pop('type', None)
    arms = []

    def add(name, build_cfg, solo, view=None):
        torch.manual_seed(settings.seed)  # same initial weights in every arm
        model = MODELS.build(build_cfg).to(settings.device)
        if settings.channels_last:
            to_channels_last(model)
        model.train()
        arms.append(_Arm(name, model, build_optim_wrapper(model, _optim_cfg(cfg, settings, solo)),
                         view))

    for short in settings.generators:
        add(f'kdcl/{short}', dict(model_cfg, soft_target=dict(type=GENERATORS[short]),
                                  data_preprocessor=dict(preprocessor)), solo=False)
    students = resolve_students(model_cfg['students'])
    for i, (name, student_cfg) in enumerate(students):
        add(f'solo/{name}', dict(student_cfg, data_preprocessor=dict(
            preprocessor, type='ClsDataPreprocessor')), solo=True, view=i)
    return arms, [name for name, _ in students]


# ----------------------------------------------------------------- measurement
def _sync(device: str) -> None:
    if device.startswith('cuda'):
        torch.cuda.synchronize(device)


def _timed(fn: Callable[[], object], device: str) -> float:
    _sync(device)
    start = time.perf_counter()
    fn()
    _sync(device)
    return time.perf_counter() - start


class _PeakMemory:
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
            self.kind = 'cpu peak RSS (VmHWM, reset per arm)' if self._reset_hwm() \
                else 'cpu peak RSS of the process (ru_maxrss; not per arm)'

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
        gc.collect()
        if self.cuda:
            torch.cuda.synchronize(self.device)
            torch.cuda.reset_peak_memory_stats(self.device)
            before = torch.cuda.memory_allocated(self.device) / 2**20
            fn()
            torch.cuda.synchronize(self.device)
            peak = torch.cuda.max_memory_allocated(self.device) / 2**20
        else:
            _malloc_trim()
            self._reset_hwm()
            before = self._status_mb('VmRSS')
            fn()
            peak = self._status_mb('VmHWM')
            if peak is None or before is None:
                before, peak = None, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        return dict(peak_mb=peak, step_increase_mb=None if before is None else peak - before)


def _malloc_trim() -> None:
    try:
        ctypes.CDLL('libc.so.6').malloc_trim(0)
    except (OSError, AttributeError):  # not glibc
        pass


def _pipeline_batch_seconds(loader, num_batches: int) -> float:
    """Mean seconds per batch after the first (which pays for worker start-up)."""
    batches = iter(loader)
    next(batches)
    start = time.perf_counter()
    for _ in range(num_batches):
        next(batches)
    return (time.perf_counter() - start) / num_batches


def _repeat_to(dataset_len: int, batch_size: int, num_batches: int) -> int:
    return max(1, math.ceil(batch_size * (num_batches + 1) / dataset_len))


def machine_info() -> dict:
    cpu_model = platform.processor() or 'unknown'
    try:
        with open('/proc/cpuinfo') as f:
            cpu_model = next((line.split(':', 1)[1].strip() for line in f
                              if line.startswith('model name')), cpu_model)
    except OSError:
        pass
    import mmengine
    import mmpretrain
    info = dict(cpu_model=cpu_model, cpu_cores=os.cpu_count(),
                torch_threads=torch.get_num_threads(),
                python=platform.python_version(), torch=torch.__version__,
                mmengine=mmengine.__version__, mmpretrain=mmpretrain.__version__)
    if torch.cuda.is_available():
        info['gpu'] = torch.cuda.get_device_name()
    return info


def load_average() -> List[float]:
    return [round(x, 2) for x in os.getloadavg()]


def run_benchmark(settings: BenchmarkSettings, logger: Optional[MMLogger] = None) -> dict:
    """Measure every arm round-robin and return the report (see :func:`format_markdown`)."""
    settings.check()
    logger = logger or MMLogger.get_instance('kdcl_benchmark', log_level='INFO')
    started, load_before = time.time(), load_average()
    cfg = Config.fromfile(settings.config)
    if cfg.model.get('type') != 'KDCL':
        raise ValueError(f'{settings.config}: model.type is {cfg.model.get("type")!r}; the '
                         'benchmark needs a KDCL config (model.type="KDCL").')
    init_default_scope(cfg.get('default_scope', 'mmpretrain'))
    if settings.threads:
        torch.set_num_threads(settings.threads)
    busy = load_before[0]
    if settings.device == 'cpu' and busy + torch.get_num_threads() > (os.cpu_count() or 1) + 0.5:
        advice = ' or --threads 1' if torch.get_num_threads() > 1 else ''
        logger.warning(f'The 1-min load average is {busy:.2f} on {os.cpu_count()} cores: other '
                       f'jobs compete with the {torch.get_num_threads()} torch thread(s), so '
                       f'timings will be noisy. Prefer a quiet machine{advice}.')
    random.seed(settings.seed)
    np.random.seed(settings.seed)
    torch.manual_seed(settings.seed)
    if settings.device.startswith('cuda'):
        torch.backends.cudnn.benchmark = True  # fixed input size

    arms, students = _build_arms(cfg, settings)
    kdcl = {a.name.split('/', 1)[1]: a for a in arms if a.name.startswith('kdcl/')}
    data = _Data(cfg, settings, next(iter(kdcl.values())).model.num_classes)
    logger.info(f'Arms: {", ".join(a.name for a in arms)}; batch {data.batch_size}, '
                f'{settings.rounds} rounds x {settings.steps_per_round} steps, '
                f'{settings.warmup_steps} warm-up steps, device {settings.device}, '
                f'amp {settings.amp}, channels_last {settings.channels_last}')

    multi_view = data.dataset(data.train_pipeline)
    batches = data.first_batches(multi_view, settings.cached_batches)
    pipeline_batches = max(settings.pipeline_batches, 4 * data.num_workers)
    repeats = _repeat_to(len(multi_view), data.batch_size, pipeline_batches)
    pipelines = {
        'multi_view': data.loader(_repeated(multi_view, repeats)),
        'single_view': data.loader(_repeated(data.dataset(single_view_pipeline(
            data.train_pipeline)), repeats)),
    }

    estimate = None
    if 'General' in kdcl:
        estimate = _GeneralEstimate(kdcl['General'].model, data, settings.heldout_ratio)

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
                arm.times.append(_timed(lambda: arm.step(batch), settings.device))
        return run

    pipeline_times = {k: [] for k in pipelines}
    estimate_times = []
    units += [(a.name, train_unit(a)) for a in arms]
    units += [(f'pipeline/{k}', lambda k=k: pipeline_times[k].append(
        _pipeline_batch_seconds(pipelines[k], pipeline_batches))) for k in pipelines]
    if estimate is not None:
        units.append(('general/estimate',
                      lambda: estimate_times.append(_timed(estimate.run, settings.device))))

    logger.info(f'Timing {len(units)} units x {settings.rounds} rounds')
    load_per_round = _round_robin(units, settings.rounds, settings.seed)

    logger.info('Peak memory, one step per arm')
    peak = _PeakMemory(settings.device)
    memory = {a.name: peak.measure(lambda a=a: a.step(batches[0])) for a in arms}

    step_stats = {a.name: summarise(a.times) for a in arms}
    ratios = overhead_ratios(step_stats, settings.generators, students)
    times = {a.name: a.times for a in arms}
    report = dict(
        settings=dict(asdict(settings), batch_size=data.batch_size, num_workers=data.num_workers),
        machine=machine_info(),
        load_average_before=load_before,
        load_average_after=load_average(),
        load_average_1min_per_round=load_per_round,
        duration_s=round(time.time() - started, 1),
        students=students,
        generators=list(settings.generators),
        train_step=step_stats,
        ratios=ratios,
        paired_ratios=paired_ratios(times, settings.generators, students, settings.rounds),
        memory=dict(kind=peak.kind, arms=memory),
        pipeline=_pipeline_report(pipeline_times, data, step_stats, settings, pipeline_batches),
    )
    if estimate is not None:
        report['general_estimate'] = estimate.report(estimate_times, step_stats['kdcl/General'],
                                                     report['pipeline'], data)
    report['targets'] = _check_targets(report)
    return report


def _round_robin(units: List[Tuple[str, Callable[[], None]]], rounds: int,
                 seed: int) -> List[float]:
    """Run every unit once per round, in a fresh random order; the 1-min load after
    each round."""
    order = random.Random(seed)
    progress = ProgressBar(len(units) * rounds)
    load = []
    for _ in range(rounds):
        for _, run in order.sample(units, len(units)):
            run()
            progress.update()
        load.append(load_average()[0])
    print()
    return load


def _repeated(dataset, times: int):
    """Enough samples for the timed batches of small datasets (MNIST's 300 digits)."""
    return dataset if times == 1 else ConcatDataset([dataset] * times)


class _GeneralEstimate:
    """``GeneralWeightsHook.estimate`` itself, on a held-out split of the train dataset."""

    def __init__(self, model, data: _Data, ratio: float):
        split = dict(type='HeldOutSplit', ratio=ratio, seed=data.seed)
        self.heldout = data.dataset(data.test_pipeline)
        self.heldout_size = len(_build_split(self.heldout, 'heldout', split))
        self.train_size = len(_build_split(self.heldout, 'train', split))
        self.hook = HOOKS.build(dict(type='GeneralWeightsHook', heldout_dataloader=dict(
            batch_size=data.heldout_batch_size, num_workers=data.num_workers,
            dataset=dict(split, part='heldout', dataset=self.heldout),
            sampler=dict(type='DefaultSampler', shuffle=False))))
        quiet = MMLogger.get_instance('kdcl_benchmark_general', log_level='WARNING')
        self.runner = SimpleNamespace(model=model, epoch=0, seed=data.seed, logger=quiet,
                                      message_hub=MessageHub.get_current_instance(),
                                      build_dataloader=Runner.build_dataloader)
        self.hook.before_train(self.runner)
        self.ratio = ratio

    def run(self) -> None:
        self.hook.estimate(self.runner)

    def report(self, times, general_step: dict, pipeline: dict, data: _Data) -> dict:
        batches = math.ceil(self.train_size / data.batch_size)
        # With no workers the pipeline runs in the training loop, so it is part of the epoch.
        per_batch = general_step['median_ms'] + (
            pipeline['multi_view']['median_ms'] if data.num_workers == 0 else 0.0)
        stats = summarise(times)
        epoch_ms = batches * per_batch
        return dict(heldout_ratio=self.ratio, heldout_samples=self.heldout_size,
                    train_samples=self.train_size, batches_per_epoch=batches,
                    heldout_batch_size=data.heldout_batch_size, estimate=stats,
                    epoch_ms=epoch_ms, fraction=stats['median_ms'] / epoch_ms)


def _build_split(dataset, part, split):
    return HeldOutSplit(dataset, part=part, ratio=split['ratio'], seed=split['seed'])


def _pipeline_report(times: dict, data: _Data, step_stats: dict, settings,
                     batches_per_round: int) -> dict:
    out = dict(num_workers=data.num_workers, batch_size=data.batch_size,
               batches_per_round=batches_per_round)
    for name, seconds in times.items():
        stats = summarise(seconds)
        out[name] = dict(stats, images_per_s=data.batch_size / (stats['median_ms'] / 1e3))
    out['multi_over_single'] = out['multi_view']['median_ms'] / out['single_view']['median_ms']
    fastest = min(step_stats[f'kdcl/{g}']['median_ms'] for g in settings.generators)
    out['fastest_kdcl_step_ms'] = fastest
    # The time between batches the loader delivers when nothing else runs: with workers
    # they overlap training, and only a longer interval than a step starves it; without
    # workers the pipeline runs in series and adds its time to every step.
    out['pipeline_ms_per_step'] = out['multi_view']['median_ms']
    out['bottleneck'] = out['pipeline_ms_per_step'] >= fastest
    out['share_of_step'] = (out['multi_view']['median_ms'] /
                            (out['multi_view']['median_ms'] + fastest)
                            if data.num_workers == 0 else None)
    return out


def _check_targets(report: dict) -> dict:
    targets = {f'ratio {g} <= {t}': report['ratios'][g] <= t
               for g, t in RATIO_TARGETS.items() if g in report['ratios']}
    if 'general_estimate' in report:
        targets[f'General estimate <= {GENERAL_FRACTION_TARGET:.0%} of an epoch'] = \
            report['general_estimate']['fraction'] <= GENERAL_FRACTION_TARGET
    targets['multi-view pipeline not the bottleneck'] = not report['pipeline']['bottleneck']
    return targets


# ----------------------------------------------------------------- output
def format_markdown(report: dict) -> str:
    s, m = report['settings'], report['machine']
    lines = [
        f"# KDCL training-step benchmark ({s['preset']}{', quick' if s['quick'] else ''})", '',
        f"Machine: {m['cpu_model']}, {m['cpu_cores']} cores ({m['torch_threads']} torch threads)"
        f"{', ' + m['gpu'] if 'gpu' in m else ''}; torch {m['torch']}, mmengine {m['mmengine']}, "
        f"mmpretrain {m['mmpretrain']}.",
        f"Load average (1/5/15 min) before: {report['load_average_before']}, after: "
        f"{report['load_average_after']}; 1-min load over the rounds "
        f"{min(report['load_average_1min_per_round']):.2f}–"
        f"{max(report['load_average_1min_per_round']):.2f}. Duration {report['duration_s']} s.",
        f"Config `{_display_path(s['config'])}`, "
        f"device {s['device']}, batch {s['batch_size']}, amp {s['amp']}, channels_last "
        f"{s['channels_last']}, {s['rounds']} rounds x {s['steps_per_round']} steps per arm "
        f"(round-robin, shuffled), {s['warmup_steps']} warm-up steps excluded.", '',
        '## Training step (`model.train_step`)', '',
        '| arm | median ms | IQR ms | KDCL / Σ alone | per-round ratio (IQR) | peak memory MB '
        '| step increase MB |',
        '|---|---:|---:|---:|---|---:|---:|',
    ]
    mem = report['memory']['arms']
    for name, st in report['train_step'].items():
        short = name.split('/', 1)[1]
        ratio = paired = ''
        if name.startswith('kdcl/'):
            ratio = f"{report['ratios'][short]:.3f}"
            pr = report['paired_ratios'][short]
            paired = f"{pr['median']:.3f} ({pr['q1']:.3f}–{pr['q3']:.3f})"
        inc = mem[name]['step_increase_mb']
        lines.append(f"| {name} | {st['median_ms']:.1f} | {st['iqr_ms']:.1f} | {ratio} | "
                     f"{paired} | {mem[name]['peak_mb']:.0f} | "
                     f"{'' if inc is None else f'{inc:.0f}'} |")
    solo = ' + '.join(f'solo/{n}' for n in report['students'])
    lines += ['', f"Ratio = median(KDCL) / ({solo} medians); per-round ratio: the same from each "
              f"round's medians, median and quartiles over rounds. Memory: "
              f"{report['memory']['kind']}.", '']
    p = report['pipeline']
    lines += [
        f"## Data pipeline ({p['num_workers']} workers, batch {p['batch_size']})", '',
        '| pipeline | median ms / batch | IQR ms | images / s |', '|---|---:|---:|---:|']
    for name in ('multi_view', 'single_view'):
        lines.append(f"| {name} | {p[name]['median_ms']:.1f} | {p[name]['iqr_ms']:.1f} | "
                     f"{p[name]['images_per_s']:.0f} |")
    share = '' if p['share_of_step'] is None else \
        f" The pipeline runs in the training loop: {p['share_of_step']:.1%} of a step."
    lines += ['', f"Multi-view / single-view: {p['multi_over_single']:.2f}x. Pipeline per step "
              f"{p['pipeline_ms_per_step']:.1f} ms vs fastest KDCL step "
              f"{p['fastest_kdcl_step_ms']:.1f}"
              f" ms: {'BOTTLENECK' if p['bottleneck'] else 'not the bottleneck'}.{share}", '']
    if 'general_estimate' in report:
        g = report['general_estimate']
        lines += [
            '## General: per-epoch weight estimation', '',
            f"`GeneralWeightsHook.estimate` over {g['heldout_samples']} held-out samples "
            f"({g['heldout_ratio']:.0%}, batch {g['heldout_batch_size']}): median "
            f"{g['estimate']['median_ms']:.1f} ms (IQR {g['estimate']['iqr_ms']:.1f}). Epoch = "
            f"{g['batches_per_epoch']} batches over {g['train_samples']} samples = "
            f"{g['epoch_ms']:.0f} ms. Fraction: **{g['fraction']:.2%}**.", '']
    lines += ['## Targets', '', '| target | met |', '|---|---|']
    lines += [f"| {k} | {'yes' if v else 'NO'} |" for k, v in report['targets'].items()]
    return '\n'.join(lines) + '\n'


def _display_path(path: str) -> str:
    rel = osp.relpath(osp.realpath(path))
    return path if rel.startswith('..') else rel


def check_out_dir(out_dir: str, overwrite: bool = False) -> None:
    if osp.exists(out_dir) and not osp.isdir(out_dir):
        raise NotADirectoryError(f'--out-dir {out_dir} is a file; choose a directory.')
    existing = [f for f in REPORT_FILES if osp.exists(osp.join(out_dir, f))]
    if existing and not overwrite:
        raise FileExistsError(f'{out_dir} already holds {", ".join(existing)}; pass --overwrite '
                              'to replace them or choose another --out-dir.')


def write_report(report: dict, out_dir: str, overwrite: bool = False) -> Dict[str, str]:
    """Write ``benchmark.json`` and ``benchmark.md``; refuses to overwrite unless asked."""
    check_out_dir(out_dir, overwrite)
    os.makedirs(out_dir, exist_ok=True)
    paths = dict(zip(('json', 'markdown'), (osp.join(out_dir, f) for f in REPORT_FILES)))
    with open(paths['json'], 'w') as f:
        json.dump(report, f, indent=2)
    with open(paths['markdown'], 'w') as f:
        f.write(format_markdown(report))
    return paths


__all__ = ['BenchmarkSettings', 'GENERATORS', 'SyntheticImages', 'check_out_dir',
           'format_markdown', 'machine_info', 'overhead_ratios', 'paired_ratios', 'preset_settings',
           'run_benchmark', 'single_view_pipeline', 'summarise', 'write_report']
