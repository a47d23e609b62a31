"""DivergenceGuardHook: a student with a non-finite loss or gradient skips its own step while the
others take theirs; a diverged run stops naming the student, the iteration and the last good
checkpoint; bad starting weights name their file."""

import itertools
from types import SimpleNamespace

import pytest
import torch
import torch.nn as nn
from mmengine.hooks import Hook
from mmengine.logging import MessageHub, MMLogger
from mmengine.model import BaseModel, BaseModule
from mmengine.optim import AmpOptimWrapper, OptimWrapper
from mmengine.runner import Runner

from kdcl_mm.engine.runtime.divergence_guard import DivergenceError, DivergenceGuardHook

NAN = float('nan')


class TwoStudents(nn.Module):
    """What the guard reads of a KDCL model: ``student_names``, ``students`` and the loss dict
    that ``parse_losses`` (mmengine's) sums, one ``{name}.loss`` per student."""

    parse_losses = BaseModel.parse_losses

    def __init__(self, with_students=True):
        super().__init__()
        torch.manual_seed(0)
        if with_students:
            self.student_names = ['resnet18', 'mobilenet_v2']
        self.students = nn.ModuleList(
            nn.Sequential(nn.Linear(4, 4), nn.BatchNorm1d(4), nn.Linear(4, 3)) for _ in range(2)
        )

    def losses(self, x, poison=None):
        """``poison`` multiplies one student's logits by NaN (the NaN reaches its gradients)."""
        names = getattr(self, 'student_names', ['a', 'b'])
        out = {}
        for i, (name, student) in enumerate(zip(names, self.students)):
            logits = student(x)
            if poison == i:
                logits = logits * torch.full_like(logits, NAN)
            out[f'{name}.loss'] = logits.square().mean()
        return out

    def loss(self, x, poison=None):
        return self.parse_losses(self.losses(x, poison))[0]


_RUNNERS = itertools.count()


def fake_runner(model, optim_wrapper, tmp_path, **cfg):
    # A fresh hub per runner: mmengine keeps instances by name for the whole process, and
    # id(model) is reused once a test's model is freed, which carried counts across tests.
    name = f'guard-{next(_RUNNERS)}'
    return SimpleNamespace(
        model=model,
        optim_wrapper=optim_wrapper,
        message_hub=MessageHub.get_instance(name),
        logger=MMLogger.get_instance(name, log_level='INFO'),
        work_dir=str(tmp_path),
        cfg=dict(cfg),
        iter=0,
        epoch=0,
    )


def state(model, optim_wrapper=None, prefix=''):
    """Parameters and buffers under ``prefix``, and their optimizer state (momentum)."""
    tensors = {k: v.detach().clone() for k, v in model.state_dict().items() if k.startswith(prefix)}
    if optim_wrapper is not None:
        names = {id(p): n for n, p in model.named_parameters()}
        for param, entry in optim_wrapper.optimizer.state.items():
            if names[id(param)].startswith(prefix):
                tensors.update(
                    {f'optimizer/{names[id(param)]}/{k}': v.clone() for k, v in entry.items()}
                )
    return tensors


def assert_same_state(a, b):
    assert a.keys() == b.keys()
    for k in a:
        assert torch.equal(a[k], b[k]), k


def assert_all_moved(a, b, kind='weight'):
    moved = [k for k in a if k.endswith(kind)]
    assert moved and all(not torch.equal(a[k], b[k]) for k in moved), moved


@pytest.fixture
def guarded(tmp_path):
    """(hook, runner) around TwoStudents with SGD (momentum, weight decay), as
    DivergenceGuardHook sees a run."""

    def build(optim_wrapper_type=OptimWrapper, with_students=True, **hook_args):
        model = TwoStudents(with_students)
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=0.1)
        runner = fake_runner(model, optim_wrapper_type(optimizer=optimizer), tmp_path)
        hook = DivergenceGuardHook(**hook_args)
        hook.before_train(runner)
        return hook, runner

    return build


def train_iteration(hook, runner, poison=None, backward_calls=1):
    """One iteration: hooks before it, ``backward_calls`` backward passes, one step."""
    hook.before_train_iter(runner, 0)
    x = torch.randn(8, 4, generator=torch.Generator().manual_seed(runner.iter))
    optim_wrapper = runner.optim_wrapper
    if backward_calls == 1:
        optim_wrapper.update_params(runner.model.loss(x, poison))
    else:  # a train_step that calls backward on each loss itself, then steps once
        for loss in runner.model.losses(x, poison).values():
            optim_wrapper.backward(loss)
        optim_wrapper.step()
        optim_wrapper.zero_grad()
    hook.after_train_iter(runner, 0)
    runner.iter += 1


def test_a_non_finite_student_skips_alone_and_the_other_steps(guarded):
    hook, runner = guarded()
    model, optim_wrapper = runner.model, runner.optim_wrapper
    train_iteration(hook, runner)
    faulty, healthy = state(model, optim_wrapper, 'students.1.'), state(model, None, 'students.0.')
    train_iteration(hook, runner, poison=1)
    # Student 1's NaN reached its BN running statistics in the forward pass and every
    # gradient it has; its step left no trace, not even in momentum or weight decay.
    assert_same_state(faulty, state(model, optim_wrapper, 'students.1.'))
    assert_all_moved(healthy, state(model, None, 'students.0.'))
    assert_all_moved(healthy, state(model, None, 'students.0.'), 'running_mean')
    assert runner.message_hub.get_info('divergence_guard/skipped_steps') == 1
    assert runner.message_hub.get_info('divergence_guard/skipped_steps/mobilenet_v2') == 1
    assert runner.message_hub.get_info('divergence_guard/skipped_steps/resnet18') is None
    assert hook.consecutive == 1
    train_iteration(hook, runner)  # and student 1 trains again
    after = state(model)
    assert_all_moved(faulty, state(model, None, 'students.1.'))
    assert all(bool(torch.isfinite(v).all()) for v in after.values() if v.is_floating_point())
    assert hook.consecutive == 0


@pytest.mark.parametrize(
    'with_students, backward_calls',
    [(False, 1), (True, 2)],
    ids=['a-model-without-students', 'backward-per-loss-without-parse_losses'],
)
def test_where_nobody_can_be_blamed_a_non_finite_step_updates_nothing(
    guarded, with_students, backward_calls
):
    hook, runner = guarded(with_students=with_students)
    train_iteration(hook, runner, backward_calls=backward_calls)
    before = state(runner.model, runner.optim_wrapper)
    train_iteration(hook, runner, poison=1, backward_calls=backward_calls)
    assert_same_state(before, state(runner.model, runner.optim_wrapper))
    assert all(p.grad is None or not p.grad.any() for p in runner.model.parameters())
    assert runner.message_hub.get_info('divergence_guard/skipped_steps') == 1
    train_iteration(hook, runner, backward_calls=backward_calls)
    assert_all_moved(before, state(runner.model))


def nan_loss(model):
    return torch.tensor(NAN)  # a non-finite loss term with no gradient path


def nan_gradient(model):
    weight = model.students[0][0].weight
    return (weight - weight.detach()).abs().sqrt().sum()  # 0, with a NaN gradient (0 / 0)


@pytest.mark.parametrize('spoil', [nan_loss, nan_gradient])
def test_a_student_whose_loss_or_gradient_is_non_finite_skips_alone(guarded, spoil):
    hook, runner = guarded()
    train_iteration(hook, runner)
    faulty, healthy = (
        state(runner.model, None, 'students.0.'),
        state(runner.model, None, 'students.1.'),
    )
    hook.before_train_iter(runner, 0)
    losses = runner.model.losses(torch.randn(8, 4))
    losses['resnet18.loss'] = losses['resnet18.loss'] + spoil(runner.model)
    runner.optim_wrapper.update_params(runner.model.parse_losses(losses)[0])
    assert_same_state(faulty, state(runner.model, None, 'students.0.'))
    assert_all_moved(healthy, state(runner.model, None, 'students.1.'))
    assert runner.message_hub.get_info('divergence_guard/skipped_steps/resnet18') == 1


def test_a_non_finite_total_that_no_term_explains_skips_everybody(guarded):
    hook, runner = guarded()
    train_iteration(hook, runner)
    before = state(runner.model)
    hook.before_train_iter(runner, 0)
    loss = runner.model.loss(torch.randn(8, 4)) + torch.tensor(NAN)  # outside every term
    runner.optim_wrapper.update_params(loss)
    assert_same_state(before, state(runner.model))


def test_consecutive_skips_stop_the_run_naming_the_student_iteration_and_checkpoint(
    guarded, tmp_path
):
    hook, runner = guarded(max_consecutive_skips=3)
    (tmp_path / 'last_checkpoint').write_text(str(tmp_path / 'epoch_4.pth'))
    train_iteration(hook, runner)
    train_iteration(hook, runner, poison=1)
    train_iteration(hook, runner, poison=1)
    with pytest.raises(DivergenceError) as raised:
        train_iteration(hook, runner, poison=1)
    message = str(raised.value)
    assert "3 optimiser steps in a row were skipped for student 'mobilenet_v2'" in message
    assert 'iteration 4' in message
    assert "student 'mobilenet_v2' (students.1.0.weight and 5 more)" in message
    assert "student 'resnet18'" not in message
    assert f'--resume {tmp_path / "epoch_4.pth"}' in message
    assert 'default_hooks.divergence_guard.max_consecutive_skips' in message


def test_the_count_is_per_student_and_a_good_step_resets_it(guarded):
    hook, runner = guarded(max_consecutive_skips=2)
    for poison in (0, 1, 0, 1, 0):  # each student every other step: never two in a row
        train_iteration(hook, runner, poison=poison)
    assert runner.message_hub.get_info('divergence_guard/skipped_steps') == 5
    assert runner.message_hub.get_info('divergence_guard/skipped_steps/resnet18') == 3


def test_non_finite_weights_after_a_step_stop_before_anything_is_saved_or_stepped(
    guarded, tmp_path
):
    """Checked on the device after every iteration, read with the next step's flags (the one
    host read of an iteration) or before a checkpoint is written, whichever comes first."""
    hook, runner = guarded()
    train_iteration(hook, runner)
    with torch.no_grad():
        runner.model.students[0][2].bias[1] = float('inf')  # e.g. a finite but huge update
    hook.after_train_iter(runner, 0)  # nothing read yet
    message = (
        "after iteration 2 the weights of student 'resnet18' \\(students.0.2.bias\\) are non-finite"
    )
    with pytest.raises(DivergenceError, match=message):
        hook.before_save_checkpoint(runner, {})
    hook.after_train_iter(runner, 0)
    weights = {k: v.clone() for k, v in runner.model.named_parameters()}
    with pytest.raises(DivergenceError, match=message):
        train_iteration(hook, runner)
    assert_same_state(weights, dict(runner.model.named_parameters()))  # no step was taken


@pytest.fixture
def cpu_amp(monkeypatch):
    """AmpOptimWrapper on CPU: mmengine asserts CUDA; torch's GradScaler runs on CPU too."""
    import mmengine.optim.optimizer.amp_optimizer_wrapper as amp

    monkeypatch.setattr(amp, 'is_cuda_available', lambda: True)

    def build(optimizer):
        wrapper = AmpOptimWrapper(optimizer=optimizer)
        wrapper.loss_scaler = torch.amp.GradScaler('cpu', init_scale=2.0**10)
        return wrapper

    return build


def test_fp16_one_scale_an_overflow_skips_all_a_faulty_student_only_itself(guarded, cpu_amp):
    hook, runner = guarded(optim_wrapper_type=cpu_amp)
    scaler, model = runner.optim_wrapper.loss_scaler, runner.model
    train_iteration(hook, runner)
    assert scaler.get_scale() == 2.0**10
    # Gradients overflow, the loss is finite: the scaler skips every student's step and
    # halves its scale; BN statistics keep this forward pass's update, as in any fp16 run.
    before = state(model)
    hook.before_train_iter(runner, 0)
    x = torch.randn(8, 4)
    runner.optim_wrapper.update_params(model.loss(x) * 1e36)
    assert scaler.get_scale() == 2.0**9
    after = state(model)
    for i in range(2):
        assert torch.equal(after[f'students.{i}.0.weight'], before[f'students.{i}.0.weight'])
    assert not torch.equal(after['students.0.1.running_mean'], before['students.0.1.running_mean'])
    assert runner.message_hub.get_info('divergence_guard/skipped_steps') == 1
    runner.iter += 1
    # Student 0's loss is non-finite: its gradients never reach the scaler, the other student
    # steps through it at an unchanged scale, and student 0's buffers go back.
    faulty = state(model, runner.optim_wrapper, 'students.0.')
    healthy = state(model, None, 'students.1.')
    hook.before_train_iter(runner, 0)
    runner.optim_wrapper.update_params(model.loss(x, poison=0))
    assert_same_state(faulty, state(model, runner.optim_wrapper, 'students.0.'))
    assert_all_moved(healthy, state(model, None, 'students.1.'))
    assert scaler.get_scale() == 2.0**9
    assert hook.consecutive == 2  # student 0: the overflow and its own fault
    assert runner.message_hub.get_info('divergence_guard/skipped_steps') == 2


class Backbone(BaseModule):
    def __init__(self, checkpoint):
        super().__init__(init_cfg=dict(type='Pretrained', checkpoint=checkpoint))
        self.conv = nn.Linear(4, 4)

    def forward(self, x):
        return self.conv(x)


class Detector(nn.Module):
    def __init__(self):
        super().__init__()
        self.backbone = Backbone('students/resnet50.pth')
        self.head = nn.Linear(4, 2)


def test_non_finite_loaded_weights_name_the_checkpoint(tmp_path):
    model = Detector()
    with torch.no_grad():
        model.backbone.conv.weight[0, 0] = NAN
    runner = fake_runner(model, OptimWrapper(torch.optim.SGD(model.parameters(), 0.1)), tmp_path)
    with pytest.raises(DivergenceError) as raised:
        DivergenceGuardHook().before_train(runner)
    assert "module 'backbone' (backbone.conv.weight)" in str(raised.value)
    assert "model.backbone loads (init_cfg.checkpoint='students/resnet50.pth')" in str(raised.value)
    runner.cfg = dict(resume=True, load_from='work/epoch_3.pth')
    with pytest.raises(DivergenceError, match='checkpoint resumed: work/epoch_3.pth'):
        DivergenceGuardHook().before_train(runner)


def test_non_finite_features_on_the_first_batch_name_the_checkpoint(tmp_path):
    model = Detector()
    with torch.no_grad():
        model.backbone.conv.weight.fill_(3e38)  # finite, but its outputs overflow
    runner = fake_runner(model, OptimWrapper(torch.optim.SGD(model.parameters(), 0.1)), tmp_path)
    DivergenceGuardHook().before_train(runner)
    with pytest.raises(
        DivergenceError,
        match='model.backbone, loaded from init_cfg.checkpoint='
        "'students/resnet50.pth', turns the finite first training batch into "
        'non-finite features',
    ):
        model.backbone(torch.ones(2, 4))


def test_invalid_threshold_is_refused():
    with pytest.raises(ValueError, match='max_consecutive_skips must be an integer >= 1'):
        DivergenceGuardHook(max_consecutive_skips=0)


def test_the_default_runtime_has_the_guard(repo_root):
    from mmengine.config import Config

    cfg = Config.fromfile(f'{repo_root}/configs/kdcl/resnet18-w16_mbv2-w0.5_mnist.py')
    assert cfg.default_hooks.divergence_guard == dict(
        type='DivergenceGuardHook', max_consecutive_skips=20
    )


def test_schedulers_still_see_their_counted_step(tmp_path):
    from mmengine.optim import ConstantLR

    model = TwoStudents()
    optim_wrapper = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    ConstantLR(optim_wrapper, factor=1.0)  # wraps step with a counter, marked _with_counter
    DivergenceGuardHook().before_train(fake_runner(model, optim_wrapper, tmp_path))
    assert optim_wrapper.step._with_counter  # else every scheduler warns it was overridden


class ToyModel(BaseModel):
    def __init__(self):
        super().__init__()
        self.backbone = nn.Linear(2, 1)

    def forward(self, inputs, data_samples=None, mode='loss'):
        return dict(loss=self.backbone(torch.stack(inputs)).square().mean())


class BreakWeights(Hook):
    """An update that turns a weight infinite at iteration ``at`` (after the step)."""

    priority = 'ABOVE_NORMAL'

    def __init__(self, at):
        self.at = at

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if runner.iter + 1 == self.at:
            with torch.no_grad():
                runner.model.backbone.weight[0, 0] = float('inf')


def test_the_last_finite_checkpoint_survives_max_keep_ckpts(tmp_path):
    runner = Runner(
        model=ToyModel(),
        work_dir=str(tmp_path),
        train_dataloader=dict(
            dataset=[dict(inputs=torch.full((2,), float(i))) for i in range(6)],
            sampler=dict(type='DefaultSampler', shuffle=False),
            batch_size=2,
            collate_fn=dict(type='pseudo_collate'),
        ),
        train_cfg=dict(by_epoch=True, max_epochs=3),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.01)),
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=1, by_epoch=False, max_keep_ckpts=1)
        ),
        custom_hooks=[BreakWeights(at=3), DivergenceGuardHook()],
        default_scope='mmengine',
    )
    with pytest.raises(DivergenceError) as raised:
        runner.train()
    assert sorted(f.name for f in tmp_path.glob('*.pth')) == ['iter_2.pth']
    last = torch.load(tmp_path / 'iter_2.pth', weights_only=False)['state_dict']
    assert all(bool(torch.isfinite(v).all()) for v in last.values())
    assert "after iteration 3 the weights of module 'backbone' (backbone.weight)" in str(
        raised.value
    )
    assert f'is {tmp_path / "iter_2.pth"}: continue from it' in str(raised.value)


@pytest.mark.parametrize(
    'lean, dtype',
    [(False, None), (False, torch.bfloat16), (True, None)],
    ids=['fp32', 'bf16', 'lean'],
)
def test_a_kdcl_step_with_a_non_finite_student_steps_the_others(
    build_tiny_kdcl, tmp_path, lean, dtype
):
    """KDCL's own train_step, in its default and memory-lean modes (the lean one recomputes
    each student's forward in backward), in fp32 and under bf16 autocast."""
    from mmpretrain.structures import DataSample

    model = build_tiny_kdcl(lean=lean)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=0.1)
    optim_wrapper = OptimWrapper(optimizer)
    runner = fake_runner(model, optim_wrapper, tmp_path)
    hook = DivergenceGuardHook()
    hook.before_train(runner)

    def step(poisoned):
        views = [
            torch.rand(4, 3, 32, 32, generator=torch.Generator().manual_seed(v)) * 255
            for v in range(2)
        ]
        if poisoned:
            views[1][0] = NAN  # one image of the MobileNetV2's view
        batch = dict(inputs=views, data_samples=[DataSample().set_gt_label(i) for i in range(4)])
        hook.before_train_iter(runner, 0)
        with torch.autocast('cpu', dtype=dtype or torch.bfloat16, enabled=dtype is not None):
            model.train_step(batch, optim_wrapper)
        hook.after_train_iter(runner, 0)
        runner.iter += 1

    model.train()
    step(poisoned=False)
    faulty = state(model, optim_wrapper, 'students.1.')
    healthy = state(model, None, 'students.0.')
    step(poisoned=True)
    assert_same_state(faulty, state(model, optim_wrapper, 'students.1.'))
    assert_all_moved(healthy, state(model, None, 'students.0.'))
    assert runner.message_hub.get_info('divergence_guard/skipped_steps') == 1
    assert (
        runner.message_hub.get_info(f'divergence_guard/skipped_steps/{model.student_names[1]}') == 1
    )


def _two_ranks_one_faulty(rank, init_file, out_dir):
    torch.distributed.init_process_group(
        'gloo', init_method=f'file://{init_file}', rank=rank, world_size=2
    )
    try:
        model = TwoStudents()
        optimizer = torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9)
        runner = fake_runner(model, OptimWrapper(optimizer=optimizer), out_dir)
        hook = DivergenceGuardHook()
        hook.before_train(runner)
        before = state(model)
        hook.before_train_iter(runner, 0)
        losses = model.losses(torch.randn(8, 4, generator=torch.Generator().manual_seed(rank)))
        if rank == 0:  # only this rank sees student 1's loss go non-finite
            losses['mobilenet_v2.loss'] = losses['mobilenet_v2.loss'] + torch.tensor(NAN)
        runner.optim_wrapper.update_params(model.parse_losses(losses)[0])
        torch.save(dict(before=before, after=state(model)), f'{out_dir}/rank{rank}.pth')
    finally:
        torch.distributed.destroy_process_group()


@pytest.mark.slow
def test_ranks_agree_on_which_students_skip(tmp_path):
    torch.multiprocessing.spawn(
        _two_ranks_one_faulty, args=(str(tmp_path / 'init'), str(tmp_path)), nprocs=2
    )
    for rank in range(2):
        result = torch.load(tmp_path / f'rank{rank}.pth')
        before, after = result['before'], result['after']
        # Student 1 skipped on both ranks (every tensor as it was), student 0 stepped on both.
        assert_same_state(state_under(before, 'students.1.'), state_under(after, 'students.1.'))
        assert_all_moved(state_under(before, 'students.0.'), state_under(after, 'students.0.'))


def state_under(tensors, prefix):
    return {k: v for k, v in tensors.items() if k.startswith(prefix)}


def test_when_every_student_fails_the_optimiser_is_not_stepped(guarded):
    """A generator without parameters (the shared group is empty) takes no step of its own:
    a step on which both students fail is skipped whole, as for a model without students."""
    hook, runner = guarded()
    steps = []
    runner.optim_wrapper.optimizer.register_step_pre_hook(lambda *args: steps.append(1))
    train_iteration(hook, runner)
    before = state(runner.model, runner.optim_wrapper)
    hook.before_train_iter(runner, 0)
    losses = runner.model.losses(torch.randn(8, 4))
    losses = {k: v + torch.tensor(NAN) for k, v in losses.items()}
    runner.optim_wrapper.update_params(runner.model.parse_losses(losses)[0])
    assert steps == [1]  # the first, clean iteration only
    assert_same_state(before, state(runner.model, runner.optim_wrapper))
    assert hook.consecutive == 1
