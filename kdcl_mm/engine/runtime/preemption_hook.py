"""Stop cleanly when the cluster asks: finish the iteration, save a checkpoint, exit 0."""

import atexit
import copy
import functools
import multiprocessing
import multiprocessing.context
import os
import os.path as osp
import signal
import threading

import torch
from mmengine.dist import all_reduce, get_world_size, is_main_process
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from kdcl_mm.utils.wrappers import unwrap

from .atomic_file_backend import ATOMIC_BACKEND_ARGS, atomic_write
from .iteration_state import IterationState
from .rng_state_hook import RNGStateHook

#: Written to the work_dir when a run stops on a signal (holds the checkpoint path), removed
#: when training starts again: a Slurm script requeues the job while it exists.
MARKER = 'preempted'
#: The flag the ranks agree on with the optimiser step (:mod:`.iteration_state`).
VOTE = 'preempted'


@HOOKS.register_module()
class PreemptionHook(Hook):
    """On SIGTERM or SIGUSR1, save after the current iteration and end training.

    The signal handler only records the signal; the iteration in progress (or validation, or a
    checkpoint being written) completes. After it, every rank agrees to stop (all ranks stop at
    the same iteration even when the signal reaches them at different times), the hook saves
    ``iter_{N}.pth`` with the random state of every rank (RNGStateHook) through a temporary
    file, points ``last_checkpoint`` at it, writes the ``preempted`` marker, and ends the loop
    without ``after_train`` hooks; the process exits 0. ``--resume`` continues at iteration
    N + 1 of the same epoch (ResumableEpochBasedTrainLoop, ResumableSampler).

    Slurm sends SIGUSR1 ahead of the time limit with ``#SBATCH --signal=USR1@120``, and SIGTERM
    on preemption or ``scancel``: docs/distributed.md. It signals every process of the job
    step, DataLoader workers included, so the workers of the train and val loaders ignore these
    signals (:func:`ignore_signals_in_worker`) and end when the main process stops them, or
    when it exits (:meth:`release_workers`).

    Args:
        signals: signal names to handle.
    """

    priority = 'LOWEST'  # after the iteration's schedulers, logger and CheckpointHook

    def __init__(self, signals=('SIGTERM', 'SIGUSR1')):
        names = [signals] if isinstance(signals, str) else list(signals)
        unknown = [s for s in names if not isinstance(getattr(signal, str(s), None), int)]
        if unknown:
            raise ValueError(
                f'PreemptionHook.signals: unknown signal name(s) {unknown}; '
                "use names such as 'SIGTERM', 'SIGUSR1'."
            )
        self.signals = [getattr(signal, s) for s in names]
        self.received = None
        self._previous = {}
        self._workers_released = None  # shared with the loader workers, set at exit

    def before_train(self, runner) -> None:
        if not hasattr(runner.train_loop, 'stop_mid_epoch'):
            raise ValueError(
                'PreemptionHook needs a train loop that can stop and resume mid-epoch: set '
                "train_cfg.type='ResumableEpochBasedTrainLoop' (and remove train_cfg.by_epoch), "
                f'or remove the hook; got {type(runner.train_loop).__name__}.'
            )
        if is_main_process() and osp.exists(osp.join(runner.work_dir, MARKER)):
            os.remove(osp.join(runner.work_dir, MARKER))
        if threading.current_thread() is not threading.main_thread():
            runner.logger.warning('PreemptionHook: not in the main thread, signals not handled.')
            return
        for signum in self.signals:
            self._previous[signum] = signal.signal(signum, self._on_signal)
        if getattr(runner, 'model', None) is not None:
            IterationState.of(unwrap(runner.model)).vote(VOTE, lambda: self.received is not None)
        if self._workers_released is None:
            self._workers_released = multiprocessing.RawValue('b', 0)
            # atexit runs last-registered first: before multiprocessing's own exit function,
            # which sends SIGTERM to the workers still alive (persistent ones) and joins them.
            atexit.register(self.release_workers)
        val_loop = runner.val_loop  # built before before_train, or None
        for loader in (runner.train_dataloader, getattr(val_loop, 'dataloader', None)):
            if getattr(loader, 'num_workers', 0) > 0:
                loader.multiprocessing_context = signal_blocking_context(
                    loader.multiprocessing_context, self.signals
                )
                loader.worker_init_fn = functools.partial(
                    ignore_signals_in_worker,
                    tuple(self.signals),
                    self._workers_released,
                    loader.worker_init_fn,
                )

    def _on_signal(self, signum, frame) -> None:
        # Only record it: the process is in the middle of an iteration, a validation or a save.
        if self.received is None:
            self.received = signal.Signals(signum).name

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        if not self._all_ranks_stop(runner):
            return
        iteration = runner.iter + 1  # the iteration that just ended, counted from 1
        for hook in runner.hooks:
            if isinstance(hook, RNGStateHook):
                hook.take_snapshot(runner, 'iter', iteration)
                break
        else:
            runner.logger.warning(
                'PreemptionHook without RNGStateHook: the resumed run will not be bit-identical.'
            )
        filename = f'iter_{iteration}.pth'
        runner.save_checkpoint(
            runner.work_dir, filename, by_epoch=False, backend_args=ATOMIC_BACKEND_ARGS
        )
        path = osp.join(runner.work_dir, filename)
        if is_main_process():
            atomic_write(path, osp.join(runner.work_dir, 'last_checkpoint'))
            atomic_write(path + '\n', osp.join(runner.work_dir, MARKER))
        runner.train_loop.stop_mid_epoch()
        runner.logger.warning(  # shown at any log_level: the run did not finish
            f'Stopped on {self.received or "a signal on another rank"} after iteration '
            f'{batch_idx + 1}/{len(runner.train_dataloader)} of epoch {runner.epoch + 1} '
            f'(iteration {iteration}); saved {path}. Continue with --resume.'
        )

    def _all_ranks_stop(self, runner) -> bool:
        if get_world_size() == 1:
            return self.received is not None
        # Agreed with the optimiser step's flags (DivergenceGuardHook); a signal that arrived
        # after that all-reduce is agreed on at the next step, by every rank alike.
        agreed = IterationState.of(unwrap(runner.model)).agreed(VOTE, runner.iter)
        if agreed is not None:
            return agreed
        flag = torch.tensor([int(self.received is not None)])
        all_reduce(flag, op='max')
        return bool(flag.item())

    def after_run(self, runner) -> None:
        for signum, previous in self._previous.items():
            signal.signal(signum, previous)
        self._previous = {}

    def release_workers(self) -> None:
        """From now on the loader workers die on the signals again.

        Registered with ``atexit``: at exit, multiprocessing terminates the DataLoader workers
        still alive (a persistent loader's, or an iterator not yet collected) with SIGTERM and
        waits for them; a worker that ignored it would hang the exit for ever.
        """
        if self._workers_released is not None:
            self._workers_released.value = 1


def ignore_signals_in_worker(signals, released, worker_init_fn, worker_id: int) -> None:
    """A DataLoader ``worker_init_fn``: ignore ``signals`` until ``released``, then run the
    loader's own.

    torch gives every worker a SIGTERM handler that kills it, and a signal that reaches a
    worker as well as the main process (Slurm signals the whole job step) then fails the main
    process mid-iteration with "DataLoader worker ... is killed by signal: Terminated" instead
    of letting the hook finish the iteration and save. The main process decides; it shuts its
    workers down when it stops, and sets ``released`` (a shared byte) when it exits, after
    which a signal ends the worker.

    torch installs its handlers before calling this, so a signal that arrived earlier would
    find torch's: the worker was started with the signals blocked
    (:func:`signal_blocking_context`), and they are unblocked only here, once the handler is
    in place; one that arrived in between was held pending and now reaches this handler.
    """
    handler = functools.partial(_signal_in_worker, released)
    for signum in signals:
        signal.signal(signum, handler)
        # A Python handler would otherwise interrupt the worker's blocking reads (EINTR).
        signal.siginterrupt(signum, False)
    if _CAN_BLOCK:
        signal.pthread_sigmask(signal.SIG_UNBLOCK, signals)
    if worker_init_fn is not None:
        worker_init_fn(worker_id)


_CAN_BLOCK = hasattr(signal, 'pthread_sigmask')


class _StartsWithSignalsBlocked:
    """A worker process started with ``blocked_signals`` blocked: the child inherits the mask
    at the fork (or across the exec of spawn), so a signal sent before its ``worker_init_fn``
    has installed the handler waits instead of meeting torch's, which kills the worker."""

    blocked_signals = ()

    def start(self):
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, self.blocked_signals)
        try:
            super().start()
        finally:
            signal.pthread_sigmask(signal.SIG_SETMASK, previous)


# Module-level classes, one per start method: spawn and forkserver pickle the process object.
_BLOCKING_PROCESSES = {}
if _CAN_BLOCK:
    for _base in (
        multiprocessing.context.ForkProcess,
        multiprocessing.context.SpawnProcess,
        multiprocessing.context.ForkServerProcess,
    ):
        _cls = type(f'SignalBlocking{_base.__name__}', (_StartsWithSignalsBlocked, _base), {})
        _cls.__module__ = __name__
        globals()[_cls.__name__] = _cls
        _BLOCKING_PROCESSES[_base] = _cls


def _blocking_process(process_cls, signals, *args, **kwargs):
    process = process_cls(*args, **kwargs)
    process.blocked_signals = tuple(signals)
    return process


def signal_blocking_context(context, signals):
    """``context`` (a DataLoader's ``multiprocessing_context``; None: the default start
    method) whose worker processes start with ``signals`` blocked.

    A copy of the concrete context whose ``Process`` makes the matching
    ``SignalBlocking*Process``: a DataLoader accepts any ``BaseContext``, and queues, events
    and the start method stay the original's.
    """
    if isinstance(context, str):
        context = multiprocessing.get_context(context)
    context = context if context is not None else multiprocessing.get_context()
    if not _CAN_BLOCK:  # no signal masks (Windows): the worker_init_fn alone
        return context
    context = context.get_context()  # the concrete context behind the default one
    process_cls = _BLOCKING_PROCESSES.get(getattr(context, 'Process', None))
    if process_cls is None:  # already ours, or an unknown kind of context
        return context
    blocking = copy.copy(context)
    blocking.Process = functools.partial(_blocking_process, process_cls, signals)
    return blocking


def _signal_in_worker(released, signum, frame) -> None:
    if released.value:
        # As torch's own handler does for its parent's SIGTERM: end quietly, no error in the
        # main process (whose SIGCHLD handler reports a worker killed by a signal).
        os._exit(0)
