"""Skip the optimiser steps that would write NaN or inf into a model, and stop a run that
keeps producing them, before it saves non-finite checkpoints."""

import logging
import os.path as osp
from typing import Callable, Dict, List, Optional

import torch
from mmengine.dist import all_reduce, get_world_size
from mmengine.hooks import CheckpointHook, Hook
from mmengine.model import BaseModule
from mmengine.registry import HOOKS

from kdcl_mm.utils.wrappers import unwrap

from .iteration_state import IterationState
from .model_state import (
    BufferSnapshot,
    all_finite,
    describe,
    iter_optim_wrappers,
    keep_marks,
    nonfinite_names,
    state_tensors,
    student_prefixes,
)


class DivergenceError(RuntimeError):
    """Training produced non-finite values it cannot continue from."""

    #: ResumableEpochBasedTrainLoop saves no emergency checkpoint for it: the last good
    #: checkpoint that the message names is where to continue from.
    emergency_checkpoint = False


class _Group:
    """Who skips together: one student (its parameters and buffers under ``students.{i}.``),
    the rest of a multi-student model (``shared``), or the whole of any other model."""

    def __init__(self, who: str, owns: Callable[[str], bool]):
        self.who, self.owns = who, owns
        self.consecutive = 0
        self.params: Dict[int, List[torch.Tensor]] = {}  # per optim wrapper, built once


@HOOKS.register_module()
class DivergenceGuardHook(Hook):
    """Skip non-finite optimiser steps, student by student; stop a run that has diverged.

    * **A student with a non-finite loss or gradient skips its own update; the others step.**
      The hook wraps the runner's optim wrapper(s) (``backward`` notes whether the loss is
      finite, ``step`` checks the gradients) and the model's ``parse_losses`` (which sees
      each student's ``{name}.loss_*`` terms). On a step where a student's loss terms or
      gradients hold NaN or inf, that student's parameters get no gradient, so the optimiser
      leaves them alone (no update, no momentum, no weight decay: torch's optimisers skip a
      parameter without a gradient), and its buffers (BN running statistics) are put back as
      they were before the forward pass. The other students take their step. KDCL's soft
      target leaves a non-finite student out (kdcl_mm/models/soft_targets/base.py), so their
      losses stay finite. Parameters outside the students (a learnable generator) form one
      more group, ``shared``; a non-finite loss term that no student owns, or a non-finite
      total whose terms are all finite (an overflowing sum), skips everybody. A model without
      students is one group: a non-finite step updates nothing. It works for a ``train_step``
      that calls ``backward`` several times and ``step`` once, for ``update_params``, and with
      gradient accumulation (the buffers go back to the start of the accumulation window).
      Under several processes the ranks agree on who skips (one all-reduce of every flag per
      step). Each skip is logged with the students whose step was skipped, and counted in the
      message hub (``divergence_guard/skipped_steps``: steps on which anybody skipped, and
      ``divergence_guard/skipped_steps/{student}``; kept in checkpoints).
    * **fp16 (AmpOptimWrapper): one loss scale for all.** The scaler keeps its semantics:
      inf/NaN gradients are an overflow of the shared scale, so it skips every student's step
      and lowers the scale, which the guard counts and logs at INFO. A student whose *loss* is
      non-finite is a fault of that student, not of the scale: its gradients are dropped
      before the scaler sees them, so the others step (and the scale does not drop for it).
      One scale per student would need a GradScaler per student and split the one
      ``optim_wrapper.step`` that schedulers, accumulation and DDP count on. bf16 and fp32
      have no scaler: the guard checks the gradients itself.
    * **The run stops** with :class:`DivergenceError` once a student has skipped
      ``max_consecutive_skips`` steps in a row (naming it and the last finite checkpoint), or
      once a parameter or buffer is non-finite: checked on the device after every iteration
      (one fused reduction over tensor lists built once) and read with the next step's flags,
      before that step, or before any checkpoint is written (before CheckpointHook removes an
      old one), so a non-finite model is never saved and the last finite checkpoint is never
      rotated out by ``max_keep_ckpts``. Every flag of a step, the other hooks' votes
      (:mod:`.iteration_state`) included, is agreed with one all-reduce and read with one host
      read.
    * **Bad starting weights are named at once.** Before training, a model whose loaded
      weights are already non-finite stops with the file they came from (``--resume``,
      ``load_from`` or a module's ``init_cfg.checkpoint``); and a module loaded from a
      checkpoint whose output is non-finite on the first batch although its input is finite
      (a downstream backbone) stops naming that checkpoint.

    Args:
        max_consecutive_skips: steps in a row that one student (or, for a model without
            students, the model) may skip before the run stops.
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
        self._runner = None
        self._model = None
        self._groups: List[_Group] = []
        self._state: Optional[IterationState] = None  # the buffers, shared (iteration_state)
        self._private: Optional[BufferSnapshot] = None  # under gradient accumulation
        self._tensors: List[torch.Tensor] = []  # every parameter and buffer, listed once
        self._param_names: Dict[int, str] = {}  # id(parameter) -> its name, built once
        self._checkpoint_hooks: List[CheckpointHook] = []  # those that save by iteration
        self._pending = None  # (iteration, finite flag of the weights after it), not yet read
        self._snapshot_due = True
        self._loss_flags: List[torch.Tensor] = []  # the total loss, per backward
        self._group_loss_flags: List[torch.Tensor] = []  # (groups,), per parse_losses
        self._last_counted = None  # the iteration last counted in skipped_steps
        self._probes = []

    @property
    def consecutive(self) -> int:
        """The longest run of skipped steps in a row of any student (or of the model)."""
        return max((g.consecutive for g in self._groups), default=0)

    # ---- set-up ----

    def before_train(self, runner) -> None:
        self._runner, self._model = runner, unwrap(runner.model)
        self._state = IterationState.of(self._model)
        # An accumulation window starts before the last completed iteration: its own copy.
        accumulating = any(
            getattr(o, '_accumulative_counts', 1) > 1
            for o in iter_optim_wrappers(runner.optim_wrapper)
        )
        self._private = BufferSnapshot(self._model) if accumulating else None
        self._tensors = [t for _, t in state_tensors(self._model)]
        self._param_names = {id(p): n for n, p in self._model.named_parameters()}
        self._checkpoint_hooks = [
            h
            for h in getattr(runner, 'hooks', ())
            if isinstance(h, CheckpointHook) and not h.by_epoch
        ]
        self._pending = None
        self._groups = _groups_of(self._model)
        self._check_starting_weights(runner)
        for optim_wrapper in iter_optim_wrappers(runner.optim_wrapper):
            self._wrap(optim_wrapper)
        if len(self._groups) > 1 and callable(getattr(self._model, 'parse_losses', None)):
            self._wrap_parse_losses(self._model)
        if self.check_first_batch:
            self._probe_loaded_modules()

    def _wrap(self, optim_wrapper) -> None:
        backward, step = optim_wrapper.backward, optim_wrapper.step
        params = [p for group in optim_wrapper.param_groups for p in group['params']]
        for group in self._groups:
            group.params[id(optim_wrapper)] = [
                p for p in params if group.owns(self._param_names.get(id(p), ''))
            ]

        def guarded_backward(loss: torch.Tensor, **kwargs):
            self._loss_flags.append(torch.isfinite(loss.detach()).all())
            return backward(loss, **kwargs)

        def guarded_step(**kwargs):
            return self._step(optim_wrapper, step, kwargs)

        # On the instance, so update_params (which calls self.backward/self.step) and any
        # train_step that calls them directly both go through the guard.
        optim_wrapper.backward = guarded_backward
        optim_wrapper.step = keep_marks(guarded_step, step)

    def _wrap_parse_losses(self, model) -> None:
        parse_losses = model.parse_losses
        student_groups = [(f'{g.who}.', g) for g in self._groups if g.who != SHARED]

        def guarded_parse_losses(losses):
            owned: Dict[int, List[torch.Tensor]] = {}
            for key, value in losses.items():
                if 'loss' not in key:
                    continue  # logged only (e.g. {name}.nonfinite, accuracies)
                index = next(
                    (i for i, (prefix, _) in enumerate(student_groups) if key.startswith(prefix)),
                    len(student_groups),  # a term no student owns: everybody's
                )
                values = value if isinstance(value, (list, tuple)) else [value]
                owned.setdefault(index, []).extend(v.detach().mean() for v in values)
            device = next((v[0].device for v in owned.values()), torch.device('cpu'))
            with torch.no_grad():
                # On the device, without a host read: the step reads every flag once.
                shared = all_finite(owned.get(len(student_groups), []), device)
                flags = [
                    all_finite(owned.get(i, []), device) & shared
                    for i in range(len(student_groups))
                ]
                flags += [shared] * (len(self._groups) - len(student_groups))
                self._group_loss_flags.append(torch.stack(flags))
            return parse_losses(losses)

        model.parse_losses = guarded_parse_losses

    # ---- every iteration ----

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        if self._snapshot_due:  # the first forward of an accumulation window comes next
            if self._private is not None:
                self._private.take()
            else:  # the emergency checkpoint's copy, if it took one since the last iteration
                self._state.snapshot((runner.epoch, runner.iter))
            self._snapshot_due = False

    def _restore(self, keep=None) -> None:
        (self._private or self._state).restore(keep)

    def _step(self, optim_wrapper, step, kwargs) -> None:
        self._snapshot_due = True
        loss_ok, group_loss_ok = self._take_loss_flags()
        scaler = getattr(optim_wrapper, 'loss_scaler', None)  # AmpOptimWrapper (fp16)
        params = [g.params[id(optim_wrapper)] for g in self._groups]
        device = loss_ok.device
        with torch.no_grad():
            if scaler is not None:  # its overflow check is its own
                grads_ok = torch.ones(len(params), dtype=torch.bool, device=device)
            else:
                grads_ok = torch.stack(
                    [all_finite([p.grad for p in ps]).to(device) for ps in params]
                )
            pending, self._pending = self._pending, None
            weights_ok = pending[1].to(device).view(1) if pending else loss_ok.new_ones(1)
            flags = torch.cat([group_loss_ok.to(device) & grads_ok, loss_ok.view(1), weights_ok])
            flags = flags.int()
        if get_world_size() > 1:  # every rank takes the same decisions, with other votes
            flags = torch.cat([flags, self._state.ballot().to(device)])
            all_reduce(flags, op='min')
        agreed = flags.tolist()  # the iteration's one host read
        n = len(self._groups)
        ok, loss_ok, weights_ok = [bool(f) for f in agreed[:n]], bool(agreed[n]), agreed[n + 1]
        self._state.count(self._runner.iter, agreed[n + 2 :])
        if not weights_ok:
            self._diverged_weights(pending[0] if pending else self._runner.iter)
        if not loss_ok and all(ok):  # a non-finite total that no term explains
            ok = [False] * len(ok)
        failed = [g for g, good in zip(self._groups, ok) if not good]
        why = 'the loss was non-finite' if not loss_ok else 'the gradients were non-finite'
        # A group this optimiser does not step (no parameters, e.g. a generator without
        # learnable weights) neither skips nor takes a step of its own.
        stepping = [g for g in self._groups if g.params[id(optim_wrapper)]]
        if all(g in failed for g in stepping):
            if scaler is not None:  # what the scaler does on such a step, without stepping
                scaler.update(scaler.get_scale() * scaler.get_backoff_factor())
            self._restore()
            self._skipped(optim_wrapper, failed, why)
            return
        if failed:
            self._restore(keep=lambda name: any(g.owns(name) for g in failed))
            self._skipped(optim_wrapper, failed, why, stepped=True)
        for group in self._groups:
            if group not in failed:
                group.consecutive = 0
        scale = scaler.get_scale() if scaler is not None else None
        step(**kwargs)  # under fp16 the scaler skips inf/NaN gradients itself
        if scaler is not None and scaler.get_scale() < scale:
            self._skipped(
                optim_wrapper,
                [g for g in self._groups if g not in failed],
                'the fp16 loss scaler found inf/NaN gradients (its scale is now '
                f'{scaler.get_scale():g})',
                logging.INFO,
            )

    def _take_loss_flags(self):
        """(total finite, (groups,) each group's own terms finite) over the window's passes."""
        totals, self._loss_flags = self._loss_flags, []
        groups, self._group_loss_flags = self._group_loss_flags, []
        with torch.no_grad():
            loss_ok = torch.stack(totals).all() if totals else torch.tensor(True)
            if groups:
                group_ok = torch.stack([g.to(loss_ok.device) for g in groups]).all(dim=0)
            else:  # no parse_losses seen (a model without students): the total decides
                group_ok = loss_ok.expand(len(self._groups))
        return loss_ok, group_ok

    def _skipped(self, optim_wrapper, failed, why, level=logging.WARNING, stepped=False) -> None:
        grads = nonfinite_names(
            (self._param_names[id(p)], p.grad)
            for g in failed
            for p in g.params[id(optim_wrapper)]
            if p.grad is not None
        )
        for group in failed:
            for p in group.params[id(optim_wrapper)]:
                p.grad = None  # the optimiser leaves a parameter without a gradient alone
        if not stepped:
            optim_wrapper.zero_grad()
        runner, hub = self._runner, self._runner.message_hub
        total = hub.get_info('divergence_guard/skipped_steps', 0)
        if self._last_counted != runner.iter:  # a student's fault and an fp16 overflow: one
            total += 1
            self._last_counted = runner.iter
            hub.update_info('divergence_guard/skipped_steps', total)
        for group in failed:
            group.consecutive += 1
            key = f'divergence_guard/skipped_steps/{group.who}'
            hub.update_info(key, hub.get_info(key, 0) + 1)
        who = ', '.join(_label(g) for g in failed)
        where = f'; non-finite gradients in {describe(self._model, grads)}' if grads else ''
        others = '; the other students stepped' if stepped else ''
        iteration = runner.iter + 1
        worst = max(failed, key=lambda g: g.consecutive)
        runner.logger.log(
            level,
            f'DivergenceGuardHook: skipped the optimiser step of iteration {iteration} for '
            f'{who}: {why}{where}{others}. {worst.consecutive} skipped in a row by '
            f'{_label(worst)} (the run stops at {self.max_consecutive_skips}), {total} steps '
            'with a skip in all.',
        )
        if worst.consecutive >= self.max_consecutive_skips:
            raise DivergenceError(
                f'Training diverged: {worst.consecutive} optimiser steps in a row were skipped '
                f'for {_label(worst)} because {why} (last: iteration {iteration}{where}). '
                f'{self._last_good(runner)} with a lower learning rate '
                '(optim_wrapper.optimizer.lr), gradient clipping '
                '(optim_wrapper.clip_grad=dict(max_norm=...)) or the bad data fixed; '
                'default_hooks.divergence_guard.max_consecutive_skips sets how many skipped '
                'steps in a row end the run.'
            )

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        self._remove_probes()
        # Checked on the device now and read where it protects something: with the next
        # step's flags (before that step writes anything), or now when a checkpoint is due
        # (CheckpointHook removes the oldest checkpoint before it saves: read before both).
        self._pending = (runner.iter + 1, all_finite(self._tensors))
        if self._checkpoint_due(runner):
            self._read_pending()

    def _checkpoint_due(self, runner) -> bool:
        """Whether a CheckpointHook saves by iteration after this one (its own schedule)."""
        return any(
            hook.every_n_train_iters(runner, hook.interval, getattr(hook, 'save_begin', 0))
            or (getattr(hook, 'save_last', False) and hook.is_last_train_iter(runner))
            for hook in self._checkpoint_hooks
        )

    def after_train_epoch(self, runner) -> None:
        self._read_pending()  # before an epoch's checkpoint (priority NORMAL < VERY_LOW)

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        # Any other save (preemption, the emergency checkpoint): never a non-finite model.
        # This rank's flag only: such a save may run on some ranks and not on others, and a
        # collective here would wait for ranks that never come.
        self._read_pending(agree=False)

    def after_train(self, runner) -> None:
        self._remove_probes()
        self._read_pending()

    def _read_pending(self, agree: bool = True) -> None:
        pending, self._pending = self._pending, None
        if pending is None:
            return
        flag = pending[1].int().view(1)
        if agree and get_world_size() > 1:  # a checkpoint needs every rank's buffers finite
            all_reduce(flag, op='min')
        if not bool(flag.item()):
            self._diverged_weights(pending[0])

    def _diverged_weights(self, iteration: int) -> None:
        bad = nonfinite_names(state_tensors(self._model))
        where = describe(self._model, bad) if bad else 'the model on another rank'
        raise DivergenceError(
            f'Training diverged: after iteration {iteration} the weights of {where} are '
            f'non-finite (NaN or inf), so this state is not saved. '
            f'{self._last_good(self._runner)} with a lower learning rate '
            '(optim_wrapper.optimizer.lr) or gradient clipping '
            '(optim_wrapper.clip_grad=dict(max_norm=...)).'
        )

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


#: The group of a multi-student model's parameters and buffers outside its students.
SHARED = 'shared'


def _groups_of(model) -> List[_Group]:
    prefixes = student_prefixes(model)
    if not prefixes:
        return [_Group('model', lambda name: True)]
    groups = [_Group(who, lambda name, p=prefix: name.startswith(p)) for who, prefix in prefixes]
    starts = tuple(p for _, p in prefixes)
    return groups + [_Group(SHARED, lambda name: not name.startswith(starts))]


def _label(group: _Group) -> str:
    if group.who == 'model':
        return 'the model'
    if group.who == SHARED:
        return 'the parameters outside the students'
    return f'student {group.who!r}'
