"""The measurements. Each is a function (or, where it is timed in the shared round-robin, a
function that returns its units): a new measurement is one function here, called in
:mod:`.run`, plus its column or row in :mod:`.report`.

* training steps: :func:`build_arms` (KDCL per generator, each student alone), :func:`warm_up`,
  :func:`step_units` (timed, with a check that every loss stayed finite), :func:`step_stats`,
  :func:`overhead_ratios`, :func:`paired_ratios`;
* memory: :func:`peak_memory` (CUDA max allocated, or the CPU's peak RSS); activation bytes
  per mode in :mod:`.activations`;
* data: :func:`pipeline_units` and :func:`pipeline_report` (multi-view against one view),
  :func:`photo_units` and :func:`loader_report` (ms/image per view count on real photos, the
  device-side distortion timed apart);
* General: :class:`GeneralEstimate` (its weight estimation as a share of an epoch).
"""

import ctypes
import gc
import math
import os.path as osp
import random
import resource
import time
from dataclasses import dataclass, field
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.utils import ProgressBar
from mmpretrain.registry import MODELS

from kdcl_mm.datasets import HeldOutSplit
from kdcl_mm.engine.general_weights import estimate_general_weights
from kdcl_mm.engine.hooks.channels_last_hook import to_channels_last
from kdcl_mm.models.classifiers.students import resolve_students
from kdcl_mm.models.soft_targets import GENERATORS
from tools.common.machine import load_average
from tools.common.stats import summarize

from .data import BenchmarkData
from .settings import BenchmarkSettings

Unit = Tuple[str, Callable[[], None]]


# ---------------------------------------------------------------------------- training steps
@dataclass
class Arm:
    """A model and its optimiser wrapper; ``times`` collects the seconds of timed steps,
    ``finite`` whether every loss of every step so far was finite, ``last_losses`` the last."""

    name: str
    model: torch.nn.Module
    optim_wrapper: object
    view: Optional[int] = None  # a student alone trains on this view of the batch
    times: List[float] = field(default_factory=list)
    finite: bool = True
    last_losses: Dict[str, float] = field(default_factory=dict)

    def step(self, batch: dict) -> dict:
        """One ``model.train_step``; returns its log variables (the losses, as tensors)."""
        if self.view is not None:
            batch = dict(batch, inputs=batch['inputs'][self.view])
        return self.model.train_step(batch, self.optim_wrapper)

    def timed_step(self, batch: dict, device: str) -> float:
        """Seconds of one step; then (after the timer: the check syncs) its losses."""
        out = {}
        seconds = timed(lambda: out.update(self.step(batch)), device)
        # The losses, as mmengine's parse_losses finds them (other log variables are counts).
        losses = {k: v for k, v in out.items() if 'loss' in k and isinstance(v, torch.Tensor)}
        if losses:
            values = torch.cat([v.detach().float().reshape(-1) for v in losses.values()])
            self.finite &= bool(torch.isfinite(values).all())
        self.last_losses = {k: float(v) for k, v in losses.items()}
        return seconds


def optim_cfg(cfg: Config, amp: Optional[str], solo: bool) -> dict:
    """The config's optimiser wrapper, as ``AmpOptimWrapper`` (dynamic loss scale) under AMP.

    KDCL trains all students with one optimiser, as the config builds it.
    """
    optim = cfg.optim_wrapper.to_dict()
    if solo:
        # custom_keys name KDCL's `students.{i}.` prefixes, which a lone student lacks.
        optim.pop('paramwise_cfg', None)
    if amp:
        optim.update(type='AmpOptimWrapper', dtype=amp, loss_scale='dynamic')
    return optim


def build_arms(cfg: Config, settings: BenchmarkSettings) -> Tuple[List[Arm], List[str]]:
    """``kdcl/<generator>`` per ``settings.generators``, ``lean/<first generator>`` if
    ``settings.lean``, then ``solo/<student>`` per student.

    Every arm starts from the same seed, so the students' initial weights match.
    """
    model_cfg = cfg.model.to_dict()
    # As mmengine's Runner does: the config's top-level preprocessor fills the model's.
    preprocessor = dict(
        cfg.get('data_preprocessor') or {}, **(model_cfg.get('data_preprocessor') or {})
    )
    preprocessor.pop('type', None)
    arms = []

    def add(name, build_cfg, solo, view=None):
        torch.manual_seed(settings.seed)  # same initial weights in every arm
        model = MODELS.build(build_cfg).to(settings.device)
        if settings.channels_last:
            to_channels_last(model)
        model.train()
        wrapper = build_optim_wrapper(model, optim_cfg(cfg, settings.amp, solo))
        arms.append(Arm(name, model, wrapper, view))

    def kdcl(short, **lean):
        soft_target = dict(type=GENERATORS[short])
        return dict(
            model_cfg, soft_target=soft_target, data_preprocessor=dict(preprocessor), **lean
        )

    for short in settings.generators:
        add(f'kdcl/{short}', kdcl(short), solo=False)  # the config's mode
    if settings.lean:  # the first generator again, in lean mode
        add(f'lean/{settings.generators[0]}', kdcl(settings.generators[0], lean=True), solo=False)
    students = resolve_students(model_cfg['students'])
    for i, (name, student_cfg) in enumerate(students):
        add(
            f'solo/{name}',
            dict(student_cfg, data_preprocessor=dict(preprocessor, type='ClsDataPreprocessor')),
            solo=True,
            view=i,
        )
    return arms, [name for name, _ in students]


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


def warm_up(arms: List[Arm], batches: List[dict], settings: BenchmarkSettings) -> None:
    """``warmup_steps`` untimed steps per arm (cudnn autotuning, the loss scale settling)."""
    for arm in arms:
        for i in range(settings.warmup_steps):
            arm.timed_step(batches[i % len(batches)], settings.device)


def step_units(arms: List[Arm], batches: List[dict], settings: BenchmarkSettings) -> List[Unit]:
    """One unit per arm: ``steps_per_round`` timed steps, on the batches in turn."""
    step_index = [0]

    def unit(arm):
        def run():
            for _ in range(settings.steps_per_round):
                batch = batches[step_index[0] % len(batches)]
                step_index[0] += 1
                arm.times.append(arm.timed_step(batch, settings.device))

        return run

    return [(arm.name, unit(arm)) for arm in arms]


def step_stats(arms: List[Arm]) -> Dict[str, dict]:
    return {arm.name: ms_summary(arm.times) for arm in arms}


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


def lean_report(times: Dict[str, Sequence[float]], generator: str, rounds: int) -> dict:
    """``lean/<g>`` against ``kdcl/<g>``, timed side by side in the same rounds: both
    medians, their ratio, and the per-round ratio (:func:`paired_ratios`' arithmetic, with the
    default step in place of the students alone)."""
    lean, default = times[f'lean/{generator}'], times[f'kdcl/{generator}']
    pair = {'kdcl/lean': lean, 'solo/default': default}
    stats = dict(default=ms_summary(default), lean=ms_summary(lean))
    ratio = stats['lean']['median_ms'] / stats['default']['median_ms']
    paired = paired_ratios(pair, ['lean'], ['default'], rounds)['lean']
    return dict(generator=generator, **stats, ratio=ratio, paired_ratio=paired)


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


# ---------------------------------------------------------------------------- data pipeline
def pipeline_units(pipelines: Dict[str, object], num_batches: int, times: dict) -> List[Unit]:
    """One unit per pipeline (name -> dataloader): ``num_batches`` timed batches."""
    for name in pipelines:
        times.setdefault(name, [])
    return [
        (
            f'pipeline/{name}',
            lambda name=name: times[name].append(
                pipeline_batch_seconds(pipelines[name], num_batches)
            ),
        )
        for name in pipelines
    ]


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


def photo_units(pipelines: Dict[str, list], paths: Sequence[str], times: dict) -> List[Unit]:
    """One unit per pipeline (name -> transform configs): every photo through it, each under
    its own per-sample seed as the resumable sampler fetches it; ``times[name]`` collects
    seconds per image. A pipeline that defers its flip and colour (its samples carry
    ``view_distortion``) gets a second unit, ``'<name>, on the device'``: the preprocessor's
    :func:`apply_view_distortion` on its collated views, batched, on the CPU (the loader's
    machine: on a GPU it only gets cheaper)."""
    from mmengine.dataset import Compose, default_collate

    from kdcl_mm.datasets.transforms import VIEW_DISTORTION_KEY, apply_view_distortion
    from kdcl_mm.engine.runtime.resumable_sampler import seeded_generators

    def load(pipeline):
        out = []
        for i, path in enumerate(paths):
            with seeded_generators(i):
                out.append(pipeline(dict(img_path=path, gt_label=0)))
        return out

    def timed_per_image(name, fn):
        times.setdefault(name, [])
        return (name, lambda: times[name].append(timed(fn, 'cpu') / len(paths)))

    units = []
    for name, cfg in pipelines.items():
        pipeline = Compose(cfg)
        batch = default_collate(load(pipeline))  # also the warm-up
        units.append(timed_per_image(name, lambda pipeline=pipeline: load(pipeline)))
        if batch['data_samples'][0].get(VIEW_DISTORTION_KEY) is None:
            continue
        rows = torch.stack([s.get(VIEW_DISTORTION_KEY) for s in batch['data_samples']])

        def distort(views=batch['inputs'], rows=rows):
            for v, view in enumerate(views):
                apply_view_distortion(view, rows[:, v])

        units.append(timed_per_image(f'{name}, on the device', distort))
    return units


def loader_report(times: Dict[str, List[float]], photos: Sequence[str]) -> dict:
    """Per pipeline: median ms per image and its ratio to ``'1 view'`` (the student alone);
    a deferred pipeline adds its device part and the two together."""
    median = {name: ms_summary(t)['median_ms'] for name, t in times.items()}
    solo = median['1 view']
    out = dict(photos=[osp.basename(p) for p in photos], pipelines={})
    for name, ms in median.items():
        if name.endswith(', on the device'):
            continue
        row = dict(ms_per_image=ms, x_solo=ms / solo)
        device = median.get(f'{name}, on the device')
        if device is not None:
            row.update(device_ms_per_image=device, with_device_x_solo=(ms + device) / solo)
        out['pipelines'][name] = row
    return out


# ---------------------------------------------------------------------------- memory
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


# ---------------------------------------------------------------------------- General
class GeneralEstimate:
    """``estimate_general_weights`` (what ``GeneralWeightsHook`` runs before each epoch)
    on a ``HeldOutSplit`` of the train dataset with the val pipeline, as the General
    configs set it up; each run also sets the weights, as the hook does. Timed as one unit
    of the round-robin; ``times`` collects its seconds."""

    def __init__(self, model, data: BenchmarkData, ratio: float):
        dataset = data.dataset(data.test_pipeline)
        heldout = HeldOutSplit(dataset, part='heldout', ratio=ratio, seed=data.seed)
        self.heldout_size = len(heldout)
        self.train_size = len(HeldOutSplit(dataset, part='train', ratio=ratio, seed=data.seed))
        self.loader = data.loader(heldout, batch_size=data.heldout_batch_size, shuffle=False)
        self.model = model
        self.ratio = ratio
        self.times: List[float] = []

    def run(self) -> None:
        weights, _ = estimate_general_weights(self.model, self.loader)
        self.model.soft_target.set_weights(weights)

    def unit(self, device: str) -> Unit:
        return ('general/estimate', lambda: self.times.append(timed(self.run, device)))

    def report(self, general_step: dict, pipeline: dict, data: BenchmarkData) -> dict:
        batches = math.ceil(self.train_size / data.batch_size)
        # With no workers the pipeline runs in the training loop, so it is part of the epoch.
        per_batch = general_step['median_ms'] + (
            pipeline['multi_view']['median_ms'] if data.num_workers == 0 else 0.0
        )
        stats = ms_summary(self.times)
        epoch_ms = batches * per_batch
        return dict(
            heldout_ratio=self.ratio,
            heldout_samples=self.heldout_size,
            train_samples=self.train_size,
            batches_per_epoch=batches,
            heldout_batch_size=data.heldout_batch_size,
            estimate=stats,
            epoch_ms=epoch_ms,
            fraction=stats['median_ms'] / epoch_ms,
        )
