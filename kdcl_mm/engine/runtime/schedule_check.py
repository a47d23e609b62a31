"""Parameter schedules that follow ``train_cfg.max_epochs``, and a check for impossible ones.

mmengine gives a scheduler without ``end`` the end ``max_epochs`` (``max_iters`` when not by
epoch) and raises ``end should be larger than begin`` deep inside the Runner when a scheduler
begins at or after that end, e.g. the cosine phase after a 2-epoch warm-up in a 1-epoch smoke
run. Here:

* :func:`check_param_schedulers` (a :data:`~kdcl_mm.engine.config_checks.CONFIG_CHECKS`
  entry, and called by tools/train.py) stops before training when an explicitly set ``end`` is
  not after ``begin``, naming the scheduler and the fix;
* :func:`fit_param_schedulers` (applied by ResumableEpochBasedTrainLoop, i.e. under any entry
  point) lets a scheduler whose ``end`` is unset and that begins after the run's last epoch
  simply not act in this run, instead of failing. Resumed later with a larger ``max_epochs``, it
  acts from its ``begin`` to the new end (ResumeScheduleHook takes the schedule's shape from the
  config, not from the checkpoint).
"""

import copy
from typing import Iterator, Optional, Tuple

from mmengine.config import Config
from mmengine.logging import print_log


def iter_schedulers(param_scheduler) -> Iterator[Tuple[str, dict]]:
    """(config path, scheduler dict) of a ``param_scheduler`` value: a dict, a list, or a dict
    of lists keyed by optimizer name."""
    if param_scheduler is None:
        return
    if isinstance(param_scheduler, dict) and 'type' not in param_scheduler:
        for name, schedulers in param_scheduler.items():
            for i, scheduler in enumerate(_as_list(schedulers)):
                yield f'param_scheduler.{name}.{i}', scheduler
        return
    schedulers = _as_list(param_scheduler)
    for i, scheduler in enumerate(schedulers):
        yield (
            ('param_scheduler' if isinstance(param_scheduler, dict) else f'param_scheduler.{i}'),
            scheduler,
        )


def _as_list(value) -> list:
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _horizon(scheduler: dict, max_epochs: Optional[int], max_iters: Optional[int]):
    by_epoch = scheduler.get('by_epoch', True)
    return (
        (max_epochs, 'epoch', 'max_epochs') if by_epoch else (max_iters, 'iteration', 'max_iters')
    )


def check_param_schedulers(cfg: Config) -> None:
    """Raise ValueError, naming the scheduler and the fix, for a schedule that cannot run.

    A scheduler whose ``end`` is unset is always possible (see :func:`fit_param_schedulers`).
    """
    for path, scheduler in iter_schedulers(cfg.get('param_scheduler')):
        if not isinstance(scheduler, dict):
            continue
        kind = scheduler.get('type', '?')
        begin, end = scheduler.get('begin', 0), scheduler.get('end')
        unit, key = _horizon(scheduler, None, None)[1:]
        if end is not None and end <= begin:
            raise ValueError(
                f'{path} ({kind}) begins at {unit} {begin} but ends at {end}: it can never act. '
                f'Fix: set {path}.end > {begin}, or remove `end` so that it ends with '
                f'train_cfg.{key}.'
            )


def fit_param_schedulers(param_scheduler, max_epochs: int, max_iters: int):
    """A copy where a scheduler with unset ``end`` that begins at or after the run's end ends
    one step after its begin, so that mmengine builds it (it never acts in this run)."""
    fitted = copy.deepcopy(param_scheduler)
    for path, scheduler in iter_schedulers(fitted):
        if not isinstance(scheduler, dict) or scheduler.get('end') is not None:
            continue
        horizon, unit, key = _horizon(scheduler, max_epochs, max_iters)
        begin = scheduler.get('begin', 0)
        if begin >= horizon:
            scheduler['end'] = begin + 1
            print_log(
                f'{path} ({scheduler.get("type", "?")}) begins at {unit} {begin}, after '
                f'this run ends (train_cfg.{key}={horizon}): it does not act in this run.',
                logger='current',
            )
    return fitted
