"""Save the last completed iteration when training raises, so that a crash loses nothing.

:class:`EmergencyCheckpoint` is driven by ResumableEpochBasedTrainLoop. It keeps, after every
completed iteration, what the next iteration may change before its optimiser step: each
rank's random generator states and the model's buffers (a forward pass updates BN running
statistics). When the loop raises, it knows where the exception came from:

* **consistent**: while loading a batch, in the hooks before an iteration, in the forward or
  backward pass before the optimiser started, in validation or in the hooks before an epoch.
  The model, optimiser and schedulers are still those of the last completed iteration; the
  buffers and generators are put back, and the state is saved as ``emergency_iter_{N}.pth``
  (through the atomic write, with every rank's random state, ``meta['emergency']`` saying
  why), ``last_checkpoint`` points at it, and ``--resume`` continues bit-identically to a
  run that never failed;
* **inconsistent**: once the optimiser has started updating the weights, or in the hooks at
  the end of an epoch (schedulers, checkpoints): nothing is saved, and the log says why.

With several processes, a checkpoint needs every rank (each holds its own random state and BN
statistics), so only a failure that all ranks learn of at the same point can be saved: the
loop agrees on every batch (one all-reduce of a flag), so a rank that cannot load its batch
stops every rank before the next iteration, and all of them save. An exception that only one
rank meets elsewhere (an out-of-memory error in its forward pass) leaves the other ranks
waiting in a collective operation it is not in; it saves nothing, says so, and the launcher
ends the others (docs/distributed.md).
"""

import os.path as osp
from typing import Optional

import torch
from mmengine.dist import all_gather_object, all_reduce, get_rank, get_world_size, is_main_process

from kdcl_mm.utils.wrappers import unwrap

from .atomic_file_backend import ATOMIC_BACKEND_ARGS, atomic_write
from .iteration_state import IterationState
from .model_state import (
    all_finite,
    iter_optim_wrappers,
    keep_marks,
    state_tensors,
)
from .rng_state_hook import RNGStateHook, capture_rng_state, restore_rng_state


class PeerLoadError(RuntimeError):
    """Another rank could not load its batch: every rank stops at the same iteration."""


class EmergencyCheckpoint:
    """Track what a crash would leave inconsistent, and save the last completed iteration.

    Args:
        enabled: ``train_cfg.emergency_checkpoint``; False saves nothing on an exception and
            drops the per-iteration copy of the random state and buffers, and the per-batch
            agreement between ranks.
    """

    def __init__(self, enabled: bool = True):
        self.enabled = enabled
        self.phase = 'setup'
        self.updating = False
        self.agreed = False
        self._start_iter = 0
        self._rng: Optional[dict] = None
        self._state: Optional[IterationState] = None  # the buffers, shared with the guard

    def start(self, runner) -> None:
        """Call after ``before_train``: from here on, completed iterations are kept."""
        self._start_iter = runner.iter
        self._state = IterationState.of(unwrap(runner.model))
        for optim_wrapper in iter_optim_wrappers(runner.optim_wrapper):
            # Any step, through the optim wrapper or straight on the torch optimizer.
            optim_wrapper.optimizer.register_step_pre_hook(self._on_update)
            self._mark_step(optim_wrapper)

    def _mark_step(self, optim_wrapper) -> None:
        step = optim_wrapper.step

        def marked_step(**kwargs):
            self.updating = True  # an AMP loss scaler changes its scale even on a skipped step
            return step(**kwargs)

        optim_wrapper.step = keep_marks(marked_step, step)

    def _on_update(self, *args) -> None:
        self.updating = True

    def iteration_starts(self, iteration: int) -> None:
        self.phase, self.updating = f'iteration {iteration}', False

    def iteration_completed(self, runner) -> None:
        if not self.enabled:
            return
        self._rng = capture_rng_state()
        self._state.snapshot((runner.epoch, runner.iter))
        self.updating = False

    def enter(self, phase: str) -> None:
        """Name what the loop does next: 'validation', 'the hooks after epoch 3', ..."""
        self.phase = phase

    def next_batch(self, batches, iteration: int):
        """``next(batches)``, agreed between ranks: if any rank fails, every rank raises."""
        self.phase = f'loading the batch of iteration {iteration}'
        error = None
        try:
            batch = next(batches)
        except StopIteration:
            raise
        except Exception as err:  # noqa: BLE001 (re-raised below, on every rank)
            error = err
        if get_world_size() > 1 and self.enabled:
            failed = torch.tensor([int(error is not None)])
            all_reduce(failed)
            if failed.item():
                messages = all_gather_object(
                    None if error is None else f'{type(error).__name__}: {error}'
                )
                self.agreed = True
                if error is None:
                    rank, message = next((r, m) for r, m in enumerate(messages) if m)
                    error = PeerLoadError(
                        f'rank {rank} could not load its batch of iteration {iteration}, so '
                        f'every rank stops: {message}'
                    )
        if error is not None:
            raise error
        return batch

    # ---- on an exception ----

    def save(self, runner, err: BaseException) -> Optional[str]:
        """Save the last completed iteration if the state allows; return its path."""
        if getattr(err, 'emergency_checkpoint', True) is False:
            return None  # its own message says where to continue from
        reason = self._why_not(runner, err)
        if reason is None:
            self._state.restore()
            restore_rng_state(self._rng)
            tensors = [t for _, t in state_tensors(unwrap(runner.model))]
            if not bool(all_finite(tensors)):
                reason = 'the weights of the last completed iteration are non-finite'
        if reason is not None:
            runner.logger.warning(
                f'No emergency checkpoint after {type(err).__name__} in {self.phase}: '
                f'{reason}. {_continue_from(runner)}'
            )
            return None
        iteration = runner.iter  # completed iterations
        loop = runner.train_loop
        # At an epoch boundary the saved position is the epoch's start, as an epoch checkpoint
        # (hooks before the epoch run again on resume); mid-epoch it is the next iteration.
        where = 'epoch' if loop.iter_in_epoch == 0 else 'iter'
        rng_hook = next((h for h in runner.hooks if isinstance(h, RNGStateHook)), None)
        if rng_hook is not None:
            rng_hook.take_snapshot(runner, where, iteration)
        filename = f'emergency_iter_{iteration}.pth'
        meta = dict(
            epoch=runner.epoch,
            iter=iteration,
            emergency=dict(
                exception=f'{type(err).__name__}: {err}'[:2000],
                phase=self.phase,
                rank=get_rank(),
            ),
        )
        runner.save_checkpoint(
            runner.work_dir, filename, meta=meta, by_epoch=False, backend_args=ATOMIC_BACKEND_ARGS
        )
        path = osp.join(runner.work_dir, filename)
        if is_main_process():
            atomic_write(path, osp.join(runner.work_dir, 'last_checkpoint'))
        note = '' if rng_hook else ' (without RNGStateHook: the resumed run is not bit-identical)'
        runner.logger.warning(
            f'{type(err).__name__} in {self.phase}: saved the last completed iteration '
            f'({iteration}) to {path}{note}. Fix the cause, then continue with --resume.'
        )
        return path

    def _why_not(self, runner, err: BaseException) -> Optional[str]:
        if not self.enabled:
            return 'train_cfg.emergency_checkpoint is False'
        if self.updating:
            return (
                f'the exception came after the optimiser had started updating the weights in '
                f'iteration {runner.iter + 1}, so the state is neither that of iteration '
                f'{runner.iter} nor of {runner.iter + 1}'
            )
        if self.phase.startswith('the hooks after epoch'):
            return (
                'the exception came in the hooks at the end of an epoch, which may already '
                'have changed the state (schedulers, checkpoints)'
            )
        if self._rng is None or runner.iter == self._start_iter:
            return 'no iteration completed since this run started'
        if get_world_size() > 1 and not self.agreed:
            return (
                f'rank {get_rank()} raised alone, and a checkpoint of {get_world_size()} '
                'processes needs every rank while the others wait in a collective operation '
                '(only a batch that a rank cannot load stops every rank together)'
            )
        return None


def _continue_from(runner) -> str:
    marker = osp.join(runner.work_dir, 'last_checkpoint')
    if osp.isfile(marker):
        with open(marker) as f:
            return f'The last checkpoint is {f.read().strip()}.'
    return 'No checkpoint was saved in this work_dir.'
