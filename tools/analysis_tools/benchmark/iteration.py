"""The training iteration as shipped: mmengine's Runner, built from the recipe with its runtime,
runs ``train_loop.run_iter`` (the hooks before and after the iteration, ``train_step``, the
resumable loop's emergency bookkeeping) on the benchmark's batches, beside the bare
``model.train_step`` arms of :mod:`.step_overhead`.

:func:`build_iteration_arms` builds one Runner per arm: ``iter/kdcl/<generator>`` and
``iter/solo/<student>``, from the same model configs as the bare arms
(:func:`.step_overhead.arm_configs`) and the recipe's runtime: its ``default_hooks`` (the
exact-resume hooks of configs/_base_/exact_resume.py included), ``train_cfg`` (the resumable
loop, its emergency checkpoint on) and ``custom_hooks`` for KDCL; a student alone gets the same
default hooks and loop and no custom hooks, as configs/_base_/solo_*_recipe.py ship it (KDCL's
custom hooks, ExportStudentsHook and GeneralWeightsHook, act at the end of training or per
epoch). Each Runner runs ``runner.train()`` up to its first iteration (``before_run``,
``before_train`` and ``before_train_epoch`` as in training), where the benchmark takes over and
calls the loop's real ``run_iter`` on its own batches, timed round-robin with every other arm.

What differs from a training run, and why it does not change an iteration: no validation loop
(it runs between epochs) and the config checks of ``CheckedRunner`` are not run (they act
before building; a student alone on KDCL's multi-view data would fail them); the logger's level
is WARNING (its lines are still formatted and their scalars written to the work folder, not
printed); the train dataloader holds the benchmark's batches (the loader is timed apart).
"""

import gc
import signal
import tempfile
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.registry import RUNNERS
from mmengine.runner import Runner
from torch.utils.data import DataLoader, Dataset

from kdcl_mm.engine.hooks.channels_last_hook import to_channels_last
from kdcl_mm.models.soft_targets import GENERATORS

from .settings import BenchmarkSettings
from .step_overhead import Arm, arm_configs, optim_cfg, paired_ratios
from .timing import ms_summary, timed

PREFIX = 'iter/'
#: Signals whose handlers the runtime's PreemptionHook installs in ``before_train``; put back
#: after the benchmark (its ``after_train`` never runs here).
SIGNALS = tuple(getattr(signal, s) for s in ('SIGTERM', 'SIGUSR1') if hasattr(signal, s))


class _Ready(BaseException):
    """Raised by the first ``run_iter``: setup is done. Not an ``Exception``, so the resumable
    loop's emergency save (``except Exception``) lets it through."""


class _Batches(Dataset):
    """Collated batches as a dataset (see :func:`_loader`)."""

    metainfo: dict = {}

    def __init__(self, batches: Sequence[dict]):
        self.batches = list(batches)

    def __len__(self) -> int:
        return len(self.batches)

    def __getitem__(self, index: int) -> dict:
        return self.batches[index]


def _only(items: list) -> dict:
    return items[0]


def _loader(batches: Sequence[dict]) -> DataLoader:
    """A DataLoader that yields ``batches`` as they are, with the batch sampler that hooks
    such as DistSamplerSeedHook look for."""
    return DataLoader(_Batches(batches), batch_size=1, shuffle=False, collate_fn=_only)


class _StopAtFirstIteration(Hook):
    """Lets ``runner.train()`` run its setup and hooks up to the first iteration, then stops it
    with :class:`_Ready`, leaving the loop's own ``run_iter`` in place."""

    priority = 'LOWEST'  # after every other hook's before_train

    def before_train(self, runner) -> None:
        loop = runner.train_loop

        def ready(idx, data_batch):
            del loop.run_iter  # the loop's method again
            raise _Ready

        loop.run_iter = ready


class IterationArm(Arm):
    """A Runner's training iteration: ``timed_step`` times ``train_loop.run_iter``; the losses
    are those RuntimeInfoHook put in the runner's message hub (read after the timer)."""

    runner: Optional[Runner] = None

    def step(self, batch: dict) -> None:
        if self.view is not None:
            batch = dict(batch, inputs=batch['inputs'][self.view])
        loop = self.runner.train_loop
        loop.run_iter(self.runner.iter % len(loop.dataloader), batch)

    def timed_step(self, batch: dict, device: str) -> float:
        seconds = timed(lambda: self.step(batch), device)
        scalars = self.runner.message_hub.log_scalars
        losses = {
            k[len('train/') :]: scalars[k].current()
            for k in scalars
            if k.startswith('train/') and 'loss' in k
        }
        self.finite &= all(torch.isfinite(torch.tensor(float(v))) for v in losses.values())
        self.last_losses = {k: float(v) for k, v in losses.items()}
        return seconds


def iteration_generator(cfg: Config, generators: Sequence[str]) -> str:
    """The recipe's own soft-target generator if measured, else the first measured."""
    own = (cfg.model.get('soft_target') or {}).get('type')
    shorts = [g for g in generators if GENERATORS[g] == own]
    return shorts[0] if shorts else generators[0]


def runner_config(
    cfg: Config,
    model: dict,
    optim_wrapper: dict,
    solo: bool,
    work_dir: str,
    name: str,
    seed,
    compile_: bool = False,
) -> Config:
    """The recipe's config with ``model`` and ``optim_wrapper``, without validation or test."""
    out = cfg.copy()
    out.model = model
    out.optim_wrapper = optim_wrapper
    out.work_dir = work_dir
    out.experiment_name = name
    out.randomness = dict(seed=seed)
    out.log_level = 'WARNING'
    out.compile = compile_
    out.load_from, out.resume = None, False
    for key in ('val', 'test'):
        out[f'{key}_dataloader'] = out[f'{key}_cfg'] = out[f'{key}_evaluator'] = None
    if solo:
        out.custom_hooks = []  # as configs/_base_/solo_*_recipe.py
    return out


def start(cfg: Config, batches: Sequence[dict]) -> Runner:
    """A Runner of ``cfg`` (its ``runner_type``'s class, without its config checks) whose
    ``train()`` ran up to the first iteration, over a dataloader of ``batches``."""
    cls = RUNNERS.get(cfg.get('runner_type', 'Runner')) or Runner
    runner = Runner.from_cfg.__func__(cls, cfg)  # CheckedRunner's checks: see module docstring
    runner._train_dataloader = _loader(batches)
    stop = _StopAtFirstIteration()
    runner.register_hook(stop, 'LOWEST')
    try:
        runner.train()
    except _Ready:
        pass
    else:
        raise RuntimeError('the Runner finished training before its first iteration')
    runner._hooks.remove(stop)  # no extra hook call per iteration
    return runner


def build_iteration_arms(
    cfg: Config, settings: BenchmarkSettings, batches: Sequence[dict]
) -> Tuple[List[IterationArm], str, 'IterationScratch']:
    """``iter/kdcl/<g>`` (g: :func:`iteration_generator`) and ``iter/solo/<student>``, each a
    Runner started on ``batches``. Global state the Runners set (cuDNN's autotuner flag, the
    signal handlers) is put back, so that bare and Runner-built arms run alike."""
    generator = iteration_generator(cfg, settings.generators)
    configs, _ = arm_configs(cfg, settings)
    wanted = [c for c in configs if c[0] == f'kdcl/{generator}' or c[2]]
    scratch = IterationScratch()
    arms = []
    for name, model, solo, view in wanted:
        arm_cfg = runner_config(
            cfg,
            model,
            optim_cfg(cfg, settings.amp, solo, settings.optimizer_options),
            solo,
            scratch.folder(name),
            f'benchmark_{name.replace("/", "_")}',
            settings.seed,
            settings.compile,
        )
        torch.manual_seed(settings.seed)
        runner = start(arm_cfg, batches)
        if settings.channels_last:
            to_channels_last(runner.model)
        arm = IterationArm(PREFIX + name, runner.model, runner.optim_wrapper, view)
        arm.runner = runner
        arms.append(arm)
    scratch.restore()
    return arms, generator, scratch


class IterationScratch:
    """The Runners' work folders and the global state they change, put back by ``restore``
    (cuDNN's benchmark flag at once; the signal handlers and folders by ``cleanup``)."""

    def __init__(self):
        self._dir = tempfile.TemporaryDirectory(prefix='kdcl_benchmark_runner_')
        self._cudnn = torch.backends.cudnn.benchmark
        self._signals = {s: signal.getsignal(s) for s in SIGNALS}

    def folder(self, name: str) -> str:
        return f'{self._dir.name}/{name.replace("/", "_")}'

    def restore(self) -> None:
        torch.backends.cudnn.benchmark = self._cudnn

    def cleanup(self, arms: List[IterationArm] = ()) -> None:
        """Put the signal handlers back, delete the folders and free the Runners of ``arms``
        (cleared in place), so that memory measured after this sees only the bare arms."""
        for arm in arms:
            arm.runner = arm.model = arm.optim_wrapper = None
        if isinstance(arms, list):
            arms.clear()
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        for s, handler in self._signals.items():
            if handler is not None:
                signal.signal(s, handler)
        self._dir.cleanup()


def iteration_report(
    times: Dict[str, Sequence[float]],
    generator: str,
    students: Sequence[str],
    rounds: int,
    finite: Optional[Dict[str, bool]] = None,
) -> dict:
    """The iteration as shipped beside the bare ``train_step``, per arm and as
    KDCL / Σ(students alone): medians, the per-round ratio, and iteration / train_step;
    ``finite``: Runner-built arm -> whether every loss stayed finite."""
    arms = [f'kdcl/{generator}'] + [f'solo/{s}' for s in students]
    rows = {}
    for arm in arms:
        step, it = ms_summary(times[arm]), ms_summary(times[PREFIX + arm])
        rows[arm] = dict(
            train_step=step,
            iteration=it,
            iteration_over_train_step=it['median_ms'] / step['median_ms'],
        )
        if finite is not None:
            rows[arm]['losses_finite'] = finite[PREFIX + arm]

    def ratio(kind):
        alone = sum(rows[f'solo/{s}'][kind]['median_ms'] for s in students)
        return rows[f'kdcl/{generator}'][kind]['median_ms'] / alone

    per_iteration = {k[len(PREFIX) :]: v for k, v in times.items() if k.startswith(PREFIX)}
    return dict(
        generator=generator,
        arms=rows,
        ratio=dict(train_step=ratio('train_step'), iteration=ratio('iteration')),
        paired_ratio=dict(
            train_step=paired_ratios(times, [generator], students, rounds)[generator],
            iteration=paired_ratios(per_iteration, [generator], students, rounds)[generator],
        ),
    )
