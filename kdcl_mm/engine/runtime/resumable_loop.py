"""mmengine's EpochBasedTrainLoop, resumable mid-epoch and stoppable after any iteration."""

import logging
from itertools import islice
from typing import Dict, Union

import torch
from mmengine.logging import print_log
from mmengine.registry import LOOPS
from mmengine.runner import EpochBasedTrainLoop
from torch.utils.data import DataLoader

from .emergency_checkpoint import EmergencyCheckpoint
from .schedule_check import fit_param_schedulers, iter_schedulers


@LOOPS.register_module()
class ResumableEpochBasedTrainLoop(EpochBasedTrainLoop):
    """EpochBasedTrainLoop plus what exact resume and preemption need.

    * **Mid-epoch resume.** A checkpoint saved after iteration ``k`` of an epoch (by
      PreemptionHook) resumes at iteration ``k + 1`` of that epoch: the sampler
      (``ResumableSampler``) skips the samples already trained on, and hooks see the true
      ``batch_idx``. Other samplers get the batches loaded and dropped, with a warning.
    * **Stop after an iteration.** :meth:`stop_mid_epoch` ends training after the current
      iteration without ``after_train_epoch``, validation or ``after_train`` (so hooks that
      act at the end of training, e.g. ExportStudentsHook, do not run on a preempted run).
    * **Schedules follow max_epochs.** Schedulers that would begin after the last epoch are
      kept inactive instead of failing
      (:func:`~kdcl_mm.engine.runtime.schedule_check.fit_param_schedulers`).
    * **Crash-safe progress.** When training raises (a batch that cannot be loaded, an error
      in validation, an out-of-memory error before the optimiser step), the last completed
      iteration is saved as ``emergency_iter_{N}.pth`` before the exception goes on, and
      ``--resume`` continues from it bit-identically
      (:class:`~kdcl_mm.engine.runtime.emergency_checkpoint.EmergencyCheckpoint`).

    Args:
        emergency_checkpoint: save the last completed iteration when training raises.
        Others: as EpochBasedTrainLoop.
    """

    def __init__(
        self,
        runner,
        dataloader: Union[DataLoader, Dict],
        max_epochs: int,
        emergency_checkpoint: bool = True,
        **kwargs,
    ) -> None:
        super().__init__(runner, dataloader, max_epochs, **kwargs)
        self.emergency = EmergencyCheckpoint(enabled=emergency_checkpoint)
        schedulers = list(iter_schedulers(runner.param_schedulers))
        if schedulers and all(isinstance(s, dict) for _, s in schedulers):  # still configs
            runner.param_schedulers = fit_param_schedulers(
                runner.param_schedulers, self.max_epochs, self.max_iters
            )
        self.preempted = False

    @property
    def iter_in_epoch(self) -> int:
        """Iterations of the current epoch already trained (non-zero after a mid-epoch resume)."""
        return self._iter - self._epoch * len(self.dataloader)

    def stop_mid_epoch(self) -> None:
        """End training after the current iteration (PreemptionHook)."""
        self.preempted = self.stop_training = True

    def run(self) -> torch.nn.Module:
        self.runner.call_hook('before_train')
        self.emergency.start(self.runner)
        try:
            while self._epoch < self._max_epochs and not self.stop_training:
                self.run_epoch()
                if self.preempted:
                    return self.runner.model
                self._decide_current_val_interval()
                if (
                    self.runner.val_loop is not None
                    and self._epoch >= self.val_begin
                    and (self._epoch % self.val_interval == 0 or self._epoch == self._max_epochs)
                ):
                    self.emergency.enter(f'validation after epoch {self._epoch}')
                    self.runner.val_loop.run()
        except Exception as err:
            self.emergency.save(self.runner, err)
            raise
        self.runner.call_hook('after_train')
        return self.runner.model

    def run_epoch(self) -> None:
        self.emergency.enter(f'the hooks before epoch {self._epoch + 1}')
        self.runner.call_hook('before_train_epoch')
        self.runner.model.train()
        start = self.iter_in_epoch
        if not 0 <= start <= len(self.dataloader):
            raise RuntimeError(
                f'Resumed at iteration {self._iter} of epoch {self._epoch}, i.e. iteration '
                f'{start} of an epoch of {len(self.dataloader)}: the checkpoint was saved with '
                'another dataset size or batch size. Resume with the same train_dataloader.'
            )
        # A DataLoader draws its workers' base seed from torch's generator when it creates an
        # iterator: every epoch, but with persistent workers only the first time. Keep that
        # draw out of the training stream, so that the epoch after a resume (a new iterator)
        # and the same epoch without one (a reused iterator) start from the same state.
        state = torch.get_rng_state()
        batches = iter(self._dataloader_from(start))
        torch.set_rng_state(state)
        for idx in range(start, len(self.dataloader)):
            try:
                data_batch = self.emergency.next_batch(batches, self._iter + 1)
            except StopIteration:
                break
            self.run_iter(idx, data_batch)
            if self.preempted:
                return
        self.emergency.enter(f'the hooks after epoch {self._epoch + 1}')
        self.runner.call_hook('after_train_epoch')
        self._epoch += 1

    def run_iter(self, idx, data_batch) -> None:
        self.emergency.iteration_starts(self._iter + 1)
        super().run_iter(idx, data_batch)
        self.emergency.iteration_completed(self.runner)

    def _dataloader_from(self, start: int):
        if start == 0:
            return self.dataloader
        sampler = getattr(self.dataloader.batch_sampler, 'sampler', self.dataloader.sampler)
        if hasattr(sampler, 'skip_next'):
            batch_size = getattr(self.dataloader.batch_sampler, 'batch_size', None)
            sampler.skip_next(start * (batch_size or self.dataloader.batch_size))
            return self.dataloader
        print_log(
            f'Resuming mid-epoch with {type(sampler).__name__}, which cannot skip: the '
            f'first {start} batches of the epoch are loaded and dropped. '
            "train_dataloader.sampler.type='ResumableSampler' skips them.",
            logger='current',
            level=logging.WARNING,
        )
        return islice(self.dataloader, start, None)
