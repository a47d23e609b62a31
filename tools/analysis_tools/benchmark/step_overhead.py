"""Step overhead: what a KDCL training step costs against its students trained alone.

:func:`build_arms` (KDCL per generator, each student alone, the lean mode), :func:`warm_up`,
:func:`step_units` (timed, with a check that every loss stayed finite), :func:`step_stats`,
:func:`overhead_ratios` and :func:`paired_ratios` (KDCL / Σ students alone), and
:func:`lean_report` (lean against default mode)."""

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper

from kdcl_mm.engine.hooks.channels_last_hook import to_channels_last
from kdcl_mm.models.classifiers.students import resolve_students
from kdcl_mm.models.soft_targets import GENERATORS
from kdcl_mm.registry import MODELS
from tools.common.stats import summarize

from .settings import BenchmarkSettings
from .timing import Unit, ms_summary, timed


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


def optim_cfg(cfg: Config, amp: Optional[str], solo: bool, optimizer_options=None) -> dict:
    """The config's optimiser wrapper, as ``AmpOptimWrapper`` (dynamic loss scale) under AMP,
    with ``optimizer_options`` (e.g. ``fused=True``) set on ``optim_wrapper.optimizer``.

    KDCL trains all students with one optimiser, as the config builds it.
    """
    optim = cfg.optim_wrapper.to_dict()
    if optimizer_options:
        optim['optimizer'] = dict(optim['optimizer'], **optimizer_options)
    if solo:
        # custom_keys name KDCL's `students.{i}.` prefixes, which a lone student lacks.
        optim.pop('paramwise_cfg', None)
    if amp:
        optim.update(type='AmpOptimWrapper', dtype=amp, loss_scale='dynamic')
    return optim


def arm_configs(cfg: Config, settings: BenchmarkSettings) -> Tuple[List[tuple], List[str]]:
    """``(name, model config, solo, view)`` per arm of :func:`build_arms`, in its order, and
    the students' names: what the Runner-built arms of :mod:`.iteration` build too."""
    model_cfg = cfg.model.to_dict()
    # As mmengine's Runner does: the config's top-level preprocessor fills the model's.
    preprocessor = dict(
        cfg.get('data_preprocessor') or {}, **(model_cfg.get('data_preprocessor') or {})
    )
    preprocessor.pop('type', None)

    def kdcl(short, **lean):
        soft_target = dict(type=GENERATORS[short])
        return dict(
            model_cfg, soft_target=soft_target, data_preprocessor=dict(preprocessor), **lean
        )

    configs = [(f'kdcl/{short}', kdcl(short), False, None) for short in settings.generators]
    if settings.lean:  # the first generator again, in lean mode
        g = settings.generators[0]
        configs.append((f'lean/{g}', kdcl(g, lean=True), False, None))
    students = resolve_students(model_cfg['students'])
    # A student alone trains on one view: the multi-view preprocessor's own options do not apply.
    solo_preprocessor = dict(preprocessor, type='ClsDataPreprocessor')
    solo_preprocessor.pop('deferred_distortion', None)
    for i, (name, student_cfg) in enumerate(students):
        solo_cfg = dict(student_cfg, data_preprocessor=dict(solo_preprocessor))
        configs.append((f'solo/{name}', solo_cfg, True, i))
    return configs, [name for name, _ in students]


def build_arms(cfg: Config, settings: BenchmarkSettings) -> Tuple[List[Arm], List[str]]:
    """``kdcl/<generator>`` per ``settings.generators``, ``lean/<first generator>`` if
    ``settings.lean``, then ``solo/<student>`` per student.

    Every arm starts from the same seed, so the students' initial weights match.
    """
    configs, students = arm_configs(cfg, settings)
    arms = []
    for name, build_cfg, solo, view in configs:
        torch.manual_seed(settings.seed)  # same initial weights in every arm
        model = MODELS.build(build_cfg).to(settings.device)
        if settings.channels_last:
            to_channels_last(model)
        model.train()
        options = settings.optimizer_options
        wrapper = build_optim_wrapper(model, optim_cfg(cfg, settings.amp, solo, options))
        if settings.compile:  # as mmengine's Runner does for cfg.compile=True
            model.train_step = torch.compile(model.train_step)
        arms.append(Arm(name, model, wrapper, view))
    return arms, students


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
