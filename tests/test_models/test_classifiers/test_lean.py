"""KDCL's lean mode: bit-identical training to the default mode, with one student's
activations held at a time."""

import collections
import copy
from contextlib import contextmanager

import numpy as np
import pytest
import torch
from mmengine.optim import OptimWrapper
from mmpretrain.structures import DataSample

from kdcl_mm.registry import MODELS
from tests.op_counts import AtenOps
from tools.analysis_tools.benchmark.activation_memory import SavedTensorBytes

NUM_CLASSES = 10
# BatchNorm everywhere, drop-path in the ResNet, dropout in its head: the random state and the
# buffers must both replay for the recomputation to be exact.
RESNET = dict(
    type='ImageClassifier',
    backbone=dict(type='ResNet', depth=18, stem_channels=8, base_channels=8, drop_path_rate=0.2),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='StackedLinearClsHead',
        num_classes=NUM_CLASSES,
        in_channels=64,
        mid_channels=[32],
        dropout_rate=0.5,
    ),
)
MBV2 = dict(
    type='ImageClassifier',
    backbone=dict(type='MobileNetV2', widen_factor=0.25),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=NUM_CLASSES, in_channels=1280),
)
MIXES = dict(augments=[dict(type='Mixup', alpha=1.0), dict(type='CutMix', alpha=1.0)])


def build(lean, soft_target=dict(type='MinLogitSoftTarget'), batch_augments=MIXES):
    torch.manual_seed(0)
    preprocessor = dict(mean=[120.0] * 3, std=[60.0] * 3, num_classes=NUM_CLASSES)
    if batch_augments:
        preprocessor['batch_augments'] = batch_augments
    return MODELS.build(
        dict(
            type='KDCL',
            students=copy.deepcopy([RESNET, MBV2]),
            soft_target=soft_target,
            lean=lean,
            data_preprocessor=preprocessor,
        )
    )


def batches(steps, n=4, size=32):
    g = torch.Generator().manual_seed(1)
    for _ in range(steps):
        views = [torch.randint(0, 256, (n, 3, size, size), generator=g).float() for _ in range(2)]
        yield dict(
            inputs=views,
            data_samples=[DataSample().set_gt_label(i % NUM_CLASSES) for i in range(n)],
        )


def train(model, optim_wrapper, steps=3):
    """``steps`` train_steps from the same global random state; (log_vars per step, the
    gradients of one more forward + backward, the torch random state at the end)."""
    torch.manual_seed(2)
    np.random.seed(2)  # Mixup/CutMix draw lambda from numpy
    logs = [model.train_step(data, optim_wrapper) for data in batches(steps)]
    model.zero_grad(set_to_none=True)
    data = model.data_preprocessor(next(iter(batches(1))), True)
    with optim_wrapper.optim_context(model):
        model.parse_losses(model(**data, mode='loss'))[0].backward()
    grads = {k: p.grad.clone() for k, p in model.named_parameters()}
    return logs, grads, torch.get_rng_state()


def assert_bit_identical(default, lean):
    (logs_d, grads_d, rng_d), model_d = default
    (logs_l, grads_l, rng_l), model_l = lean
    for step, (a, b) in enumerate(zip(logs_d, logs_l)):
        assert list(a) == list(b), f'step {step}: logged keys differ'
        for key in a:
            assert torch.equal(a[key], b[key]), f'step {step}: {key} {a[key]} != {b[key]}'
    for key in grads_d:
        assert torch.equal(grads_d[key], grads_l[key]), f'gradient of {key} differs'
    state_d, state_l = model_d.state_dict(), model_l.state_dict()
    for key in state_d:  # parameters and BN buffers
        assert torch.equal(state_d[key], state_l[key]), f'{key} differs'
    assert torch.equal(rng_d, rng_l)


def sgd(model):
    return OptimWrapper(
        torch.optim.SGD(model.parameters(), lr=0.1, momentum=0.9, weight_decay=1e-4)
    )


@pytest.mark.parametrize(
    'soft_target', [dict(type='MinLogitSoftTarget'), dict(type='LinearSoftTarget')], ids=str
)
def test_three_sgd_steps_are_bit_identical_to_the_default_mode(soft_target):
    runs = []
    for lean in (False, True):
        model = build(lean, soft_target)
        runs.append((train(model, sgd(model)), model))
    assert_bit_identical(*runs)
    # BN statistics moved once per step: 3 steps plus the gradient pass.
    tracked = runs[1][1].state_dict()['students.1.backbone.conv1.bn.num_batches_tracked']
    assert int(tracked) == 4


def test_bf16_autocast_is_bit_identical_to_the_default_mode():
    from kdcl_mm.engine.runtime.bf16_optim_wrapper import BF16AutocastOptimWrapper

    runs = []
    for lean in (False, True):
        model = build(lean)
        wrapper = BF16AutocastOptimWrapper(optimizer=torch.optim.SGD(model.parameters(), lr=0.1))
        runs.append((train(model, wrapper, steps=2), model))
    assert_bit_identical(*runs)


def cpu_amp_wrapper(model, monkeypatch):
    """mmengine's AmpOptimWrapper (its backward, step and loss-scale bookkeeping) run on the
    CPU: its constructor's CUDA check is bypassed, its scaler is torch's CPU GradScaler, and
    its autocast region fp16 on the CPU (mmengine's own autocast allows only bf16 there)."""
    import mmengine.optim.optimizer.amp_optimizer_wrapper as amp

    monkeypatch.setattr(amp, 'is_cuda_available', lambda: True)
    wrapper = amp.AmpOptimWrapper(
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1), dtype='float16'
    )
    wrapper.loss_scaler = torch.amp.GradScaler('cpu', init_scale=8.0, growth_interval=1)
    parent_context = amp.OptimWrapper.optim_context

    @contextmanager
    def fp16_on_cpu(model):
        with parent_context(wrapper, model), torch.autocast('cpu', dtype=torch.float16):
            yield

    monkeypatch.setattr(wrapper, 'optim_context', fp16_on_cpu)
    return wrapper


def test_fp16_amp_keeps_one_loss_scale_and_skips_the_same_steps(monkeypatch):
    results = []
    for lean in (False, True):
        model = build(lean, batch_augments=None)
        wrapper = cpu_amp_wrapper(model, monkeypatch)
        scales = []
        for step, data in enumerate(batches(3)):
            if step == 1:  # an overflow: the scaler must skip this step in both modes
                data['inputs'][1][0, 0, 0, 0] = float('inf')
                before = [p.detach().clone() for p in model.parameters()]
            model.train_step(data, wrapper)
            if step == 1:
                assert all(torch.equal(a, p) for a, p in zip(before, model.parameters()))
            scales.append(wrapper.loss_scaler.get_scale())
        results.append((scales, model.state_dict()))
    (scales_d, state_d), (scales_l, state_l) = results
    assert scales_d == scales_l
    assert scales_d[:2] == [16.0, 8.0]  # grown after the finite step 0, halved by the skip
    for key in state_d:  # the overflowed forward left NaN BN statistics, alike in both modes
        torch.testing.assert_close(state_d[key], state_l[key], rtol=0, atol=0, equal_nan=True)


def saved_bytes_of_logits(model, views):
    torch.manual_seed(3)  # the same drop-path draws, hence the same BN statistics, for each
    with SavedTensorBytes().track() as counter:
        model.student_logits(views)
    return counter.peak


def test_recomputation_only_in_training_with_grad():
    views = [torch.randn(2, 3, 32, 32) for _ in range(2)]
    lean, default = build(True), build(False)
    assert not default.lean  # off unless asked
    # Training: the lean forward keeps only its inputs for backward.
    assert saved_bytes_of_logits(lean, views) < 0.1 * saved_bytes_of_logits(default, views)
    # Evaluation (with or without grad) runs the students as they are.
    lean.eval(), default.eval()
    assert saved_bytes_of_logits(lean, views) == saved_bytes_of_logits(default, views)
    with torch.no_grad():
        for a, b in zip(lean.student_logits(views), default.student_logits(views)):
            assert torch.equal(a, b)


def step_ops(lean: bool) -> collections.Counter:
    """The aten operators of one train_step after the first (which allocates what later steps
    reuse)."""
    model = build(lean, batch_augments=None)
    wrapper = sgd(model)
    first, second = batches(2)
    torch.manual_seed(2)
    model.train_step(first, wrapper)
    with AtenOps() as ops:
        model.train_step(second, wrapper)
    return ops.count


def test_lean_step_adds_the_recomputation_and_a_fixed_cost_per_student():
    """Lean over default = one more forward of the students (F operators), one ``detach`` per
    tensor they save for backward (S, checkpoint's own), and a few operators per student
    (buffer replay: 4 fused copies; random state). Each buffer copied with its own operators
    (6 per buffer and step before the fused copies: 1,296 here) would break the bound."""
    model = build(False, batch_augments=None)
    data = model.data_preprocessor(next(iter(batches(1))), True)
    saved = [0]

    def pack(t):
        saved[0] += 1
        return t

    with AtenOps() as forward, torch.autograd.graph.saved_tensors_hooks(pack, lambda t: t):
        model.student_logits(data['inputs'])
    recompute, detaches = sum(forward.count.values()), saved[0]
    lean, default = step_ops(True), step_ops(False)
    added = sum(lean.values()) - sum(default.values())
    students = len(model.students)
    assert recompute + detaches <= added <= recompute + detaches + 16 * students
    assert lean['aten._foreach_copy_.default'] == 4 * students  # the buffer replay, fused
    assert lean['aten.copy_.default'] == default['aten.copy_.default']


def test_two_forwards_before_one_backward_each_replay_their_own_buffers():
    from kdcl_mm.models.classifiers.lean import recomputed_forward

    def run(forward):
        torch.manual_seed(0)
        net = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.BatchNorm2d(4))
        x, y = torch.randn(2, 3, 8, 8), torch.randn(2, 3, 8, 8) * 3
        for _ in range(2):  # the second step reuses the first one's storage
            net.zero_grad()
            (forward(net, x).square().sum() + forward(net, y).sum()).backward()
        return [p.grad for p in net.parameters()], list(net.buffers())

    for a, b in zip(run(torch.nn.Module.__call__), run(recomputed_forward)):
        assert all(torch.equal(u, v) for u, v in zip(a, b))
