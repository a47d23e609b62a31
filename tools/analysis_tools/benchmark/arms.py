"""The arms compared: one KDCL model per generator and each student alone, run round-robin."""

import random
from dataclasses import dataclass, field
from typing import Callable, List, Optional, Tuple

import torch
from mmengine.config import Config
from mmengine.optim import build_optim_wrapper
from mmengine.utils import ProgressBar
from mmpretrain.registry import MODELS

from kdcl_mm.engine.hooks.channels_last_hook import to_channels_last
from kdcl_mm.models.classifiers.students import resolve_students
from tools.common.machine import load_average

from .presets import GENERATORS, BenchmarkSettings


@dataclass
class Arm:
    """A model and its optimiser wrapper; ``times`` collects the seconds of timed steps."""

    name: str
    model: torch.nn.Module
    optim_wrapper: object
    view: Optional[int] = None  # a student alone trains on this view of the batch
    times: List[float] = field(default_factory=list)

    def step(self, batch: dict) -> dict:
        """One ``model.train_step``; returns its log variables (the losses, as tensors)."""
        if self.view is not None:
            batch = dict(batch, inputs=batch['inputs'][self.view])
        return self.model.train_step(batch, self.optim_wrapper)


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
    """``kdcl/<generator>`` per ``settings.generators``, then ``solo/<student>`` per student.

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

    for short in settings.generators:
        add(
            f'kdcl/{short}',
            dict(
                model_cfg,
                soft_target=dict(type=GENERATORS[short]),
                data_preprocessor=dict(preprocessor),
            ),
            solo=False,
        )
    students = resolve_students(model_cfg['students'])
    for i, (name, student_cfg) in enumerate(students):
        add(
            f'solo/{name}',
            dict(student_cfg, data_preprocessor=dict(preprocessor, type='ClsDataPreprocessor')),
            solo=True,
            view=i,
        )
    return arms, [name for name, _ in students]


def round_robin(
    units: List[Tuple[str, Callable[[], None]]], rounds: int, seed: int, progress: bool = True
) -> List[float]:
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
