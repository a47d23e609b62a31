"""Skip the optimiser steps that would write NaN or inf into a model, and stop a run that
keeps producing them, before it saves non-finite checkpoints."""

import logging
import os.path as osp
from typing import List, Optional

import torch
from mmengine.dist import all_reduce, get_world_size
from mmengine.hooks import Hook
from mmengine.model import BaseModule
from mmpretrain.registry import HOOKS

from kdcl_mm.utils.wrappers import unwrap

from .model_state import (
    BufferSnapshot,
    all_finite,
    describe,
    iter_optim_wrappers,
    keep_marks,
    nonfinite_names,
    state_tensors,
)


class DivergenceError(RuntimeError):
    """Training produced non-finite values it cannot continue from."""

    #: ResumableEpochBasedTrainLoop saves no emergency checkpoint for it: the last good
    #: checkpoint that the message names is where to continue from.
    emergency_checkpoint = False


@HOOKS.register_module()
class DivergenceGuardHook(Hook):
    """Skip non-finite optimiser steps; stop the run once it has diverged.

    * **A non-finite step updates nothing.** The hook wraps the runner's optim wrapper(s):
      ``backward`` notes whether each loss it is given is finite, ``step`` checks the
      gradients. If a loss or a gradient holds NaN or inf, the optimiser does not step, the
      gradients are zeroed and the model's buffers (BN running statistics) are put back as
      they were before the forward pass, so the step leaves no trace. It works for a
      ``train_step`` that calls ``backward`` several times and ``step`` once as well as for
      ``update_params``, and with gradient accumulation (the buffers go back to the start of
      the accumulation window). Under several processes the ranks agree (one all-reduce per
      step), so they skip together. Each skipped step is logged with the students (or, for
      other models, the modules) whose gradients were non-finite, and counted in the message
      hub (``divergence_guard/skipped_steps``, kept in checkpoints).
    * **fp16 (AmpOptimWrapper).** The loss scaler keeps its own semantics: it skips every
      step with inf/NaN gradients and lowers the scale, so the guard does not skip on the
      gradients itself; it counts the scaler's skips (seen as a lower scale after the step)
      and logs them at INFO. A non-finite *loss* is a skip as well, and then the buffers are
      put back too (a gradient overflow alone leaves BN statistics as fp16 training always
      has). bf16 and fp32 have no scaler: the guard does the skipping.
    * **The run stops** with :class:`DivergenceError` after ``max_consecutive_skips`` skipped
      steps in a row, or as soon as a parameter or buffer becomes non-finite (checked after
      every iteration, before CheckpointHook, so a non-finite model is never saved and the
      last finite checkpoint is never rotated out by ``max_keep_ckpts``). The error names the
      student or module, the iteration and the last good checkpoint.
    * **Bad starting weights are named at once.** Before training, a model whose loaded
      weights are already non-finite stops with the file they came from (``--resume``,
      ``load_from`` or a module's ``init_cfg.checkpoint``); and a module loaded from a
      checkpoint whose output is non-finite on the first batch although its input is finite
      (a downstream backbone) stops naming that checkpoint.

    Args:
        max_consecutive_skips: skipped steps in a row after which the run stops.
        check_first_batch: check the outputs of modules loaded from ``init_cfg.checkpoint``
            on the first training batch.
    """

    priority = 'NORMAL'  # after RNGStateHook restores buffers; before CheckpointHook saves

    def __init__(self, max_consecutive_skips: int = 20, check_first_batch: bool = True):
        if not isinstance(max_consecutive_skips, int) or max_consecutive_skips < 1:
            raise ValueError(
                'DivergenceGuardHook.max_consecutive_skips must be an integer >= 1, got '
                f'{max_consecutive_skips!r}'
            )
        self.max_consecutive_skips = max_consecutive_skips
        self.check_first_batch = check_first_batch
        self.consecutive = 0
        self._runner = None
        self._model = None
        self._buffers: Optional[BufferSnapshot] = None
        self._snapshot_due = True
        self._loss_flags: List[torch.Tensor] = []
        self._probes = []

    # ---- set-up ----

    def before_train(self, runner) -> None:
        self._runner, self._model = runner, unwrap(runner.model)
        self._buffers = BufferSnapshot(self._model)
        self._check_starting_weights(runner)
        for optim_wrapper in iter_optim_wrappers(runner.optim_wrapper):
            self._wrap(optim_wrapper)
        if self.check_first_batch:
            self._probe_loaded_modules()

    def _wrap(self, optim_wrapper) -> None:
        backward, step = optim_wrapper.backward, optim_wrapper.step

        def guarded_backward(loss: torch.Tensor, **kwargs):
            self._loss_flags.append(torch.isfinite(loss.detach()).all())
            return backward(loss, **kwargs)

        def guarded_step(**kwargs):
            return self._step(optim_wrapper, step, kwargs)

        # On the instance, so update_params (which calls self.backward/self.step) and any
        # train_step that calls them directly both go through the guard.
        optim_wrapper.backward = guarded_backward
        optim_wrapper.step = keep_marks(guarded_step, step)

    # ---- every iteration ----

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        if self._snapshot_due:  # the first forward of an accumulation window comes next
            self._buffers.take()
            self._snapshot_due = False

    def _step(self, optim_wrapper, step, kwargs) -> None:
        self._snapshot_due = True
        loss_flags, self._loss_flags = self._loss_flags, []
        scaler = getattr(optim_wrapper, 'loss_scaler', None)  # AmpOptimWrapper (fp16)
        loss_ok = torch.stack(loss_flags).all() if loss_flags else torch.tensor(True)
        grads = [p.grad for group in optim_wrapper.param_groups for p in group['params']]
        grads_ok = torch.tensor(True) if scaler is not None else all_finite(grads)
        flags = torch.stack([loss_ok.cpu(), grads_ok.cpu()]).int()
        if get_world_size() > 1:  # every rank takes the same decision
            all_reduce(flags, op='min')
        loss_ok, grads_ok = bool(flags[0]), bool(flags[1])
        if loss_ok and grads_ok and scaler is None:
            self.consecutive = 0
            step(**kwargs)
            return
        if loss_ok and scaler is not None:
            scale = scaler.get_scale()
            step(**kwargs)  # the scaler skips inf/NaN gradients itself and lowers its scale
            if scaler.get_scale() < scale:
                self._skipped(
                    optim_wrapper,
                    'the fp16 loss scaler found inf/NaN gradients (its scale is now '
                    f'{scaler.get_scale():g})',
                    logging.INFO,
                )
            else:
                self.consecutive = 0
            return
        if scaler is not None:  # what the scaler does on such a step, without stepping
            scaler.update(scaler.get_scale() * scaler.get_backoff_factor())
        self._buffers.restore()
        self._skipped(
            optim_wrapper,
            'the loss was non-finite' if not loss_ok else 'the gradients were non-finite',
        )

    def _skipped(self, optim_wrapper, why: str, level: int = logging.WARNING) -> None:
        grads = nonfinite_names(
            (n, p.grad) for n, p in self._model.named_parameters() if p.grad is not None
        )
        optim_wrapper.zero_grad()
        runner = self._runner
        self.consecutive += 1
        total = runner.message_hub.get_info('divergence_guard/skipped_steps', 0) + 1
        runner.message_hub.update_info('divergence_guard/skipped_steps', total)
        where = f'; non-finite gradients in {describe(self._model, grads)}' if grads else ''
        iteration = runner.iter + 1
        runner.logger.log(
            level,
            f'DivergenceGuardHook: skipped the optimiser step of iteration {iteration}: {why}'
            f'{where}. {self.consecutive} skipped in a row (the run stops at '
            f'{self.max_consecutive_skips}), {total} in all.',
        )
        if self.consecutive >= self.max_consecutive_skips:
            raise DivergenceError(
                f'Training diverged: {self.consecutive} optimiser steps in a row were skipped '
                f'because {why} (last: iteration {iteration}{where}). '
                f'{self._last_good(runner)} with a lower learning rate '
                '(optim_wrapper.optimizer.lr), gradient clipping '
                '(optim_wrapper.clip_grad=dict(max_norm=...)) or the bad data fixed; '
                'default_hooks.divergence_guard.max_consecutive_skips sets how many skipped '
                'steps in a row end the run.'
            )

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        self._remove_probes()
        tensors = state_tensors(self._model)
        if bool(all_finite([t for _, t in tensors])):
            return
        bad = nonfinite_names(tensors)
        raise DivergenceError(
            f'Training diverged: after iteration {runner.iter + 1} the weights of '
            f'{describe(self._model, bad)} are non-finite (NaN or inf), so this state is not '
            f'saved. {self._last_good(runner)} with a lower learning rate '
            '(optim_wrapper.optimizer.lr) or gradient clipping '
            '(optim_wrapper.clip_grad=dict(max_norm=...)).'
        )

    def after_train(self, runner) -> None:
        self._remove_probes()

    # ---- naming the last good checkpoint and bad starting weights ----

    @staticmethod
    def _last_good(runner) -> str:
        # Every checkpoint saved under this hook held finite weights (after_train_iter runs
        # before CheckpointHook); the newest one is what last_checkpoint names.
        path = _last_checkpoint(runner.work_dir) or runner.message_hub.get_info('last_ckpt')
        if path is None:
            path = runner.cfg.get('load_from') if runner.cfg.get('resume') else None
        if path is not None:
            return (
                f'The last checkpoint whose weights are all finite is {path}: continue from it '
                f'(--resume {path})'
            )
        best = runner.message_hub.get_info('best_ckpt')
        if best is not None:
            return (
                f'No checkpoint to resume from has been saved yet, only the best one ({best}): '
                'start again'
            )
        return 'No checkpoint has been saved yet: start again'

    def _check_starting_weights(self, runner) -> None:
        tensors = state_tensors(self._model)
        if bool(all_finite([t for _, t in tensors])):
            return
        bad = nonfinite_names(tensors)
        source = self._source_of(runner, bad[0])
        raise DivergenceError(
            f'The model starts training with non-finite weights (NaN or inf) in '
            f'{describe(self._model, bad)}: {source} Use a checkpoint saved before the run '
            'diverged (a finite one), or re-export the backbone from it.'
        )

    def _source_of(self, runner, name: str) -> str:
        if runner.cfg.get('resume') or runner.cfg.get('load_from'):
            path = runner.cfg.get('load_from') or _last_checkpoint(runner.work_dir)
            what = 'resumed' if runner.cfg.get('resume') else 'loaded (load_from)'
            return f'they come from the checkpoint {what}: {path}.'
        for prefix, module in self._loaded_modules():
            if name.startswith(prefix + '.'):
                return (
                    f'they come from the checkpoint that model.{prefix} loads '
                    f'(init_cfg.checkpoint={_checkpoint_of(module)!r}).'
                )
        return 'the model was initialised so (no checkpoint was loaded).'

    def _loaded_modules(self):
        for name, module in self._model.named_modules():
            if name and isinstance(module, BaseModule) and _checkpoint_of(module):
                yield name, module

    def _probe_loaded_modules(self) -> None:
        for prefix, module in self._loaded_modules():
            self._probes.append(module.register_forward_hook(self._first_batch_probe(prefix)))

    def _first_batch_probe(self, prefix: str):
        def probe(module, args, output) -> None:
            inputs = [a for a in args if torch.is_tensor(a)]
            if not module.training or bool(all_finite(_tensors(output))):
                return
            if not bool(all_finite(inputs)):
                return  # the data, not the checkpoint; the step guard reports it
            raise DivergenceError(
                f'model.{prefix}, loaded from init_cfg.checkpoint='
                f'{_checkpoint_of(module)!r}, turns the finite first training batch into '
                'non-finite features (NaN or inf): the checkpoint is bad (e.g. exported from a '
                'run that had diverged). Export the backbone from a finite checkpoint of the '
                'pretraining run and point model.backbone.init_cfg.checkpoint at it.'
            )

        return probe

    def _remove_probes(self) -> None:
        for handle in self._probes:
            handle.remove()
        self._probes = []


def _last_checkpoint(work_dir: str) -> Optional[str]:
    # What CheckpointHook, PreemptionHook and the emergency checkpoint point --resume at.
    marker = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(marker):
        return None
    with open(marker) as f:
        return f.read().strip() or None


def _checkpoint_of(module) -> Optional[str]:
    init_cfg = getattr(module, 'init_cfg', None)
    for cfg in init_cfg if isinstance(init_cfg, (list, tuple)) else [init_cfg]:
        if isinstance(cfg, dict) and cfg.get('checkpoint'):
            return cfg['checkpoint']
    return None


def _tensors(output) -> List[torch.Tensor]:
    if torch.is_tensor(output):
        return [output]
    if isinstance(output, dict):
        output = list(output.values())
    if isinstance(output, (list, tuple)):
        return [t for item in output for t in _tensors(item)]
    return []
