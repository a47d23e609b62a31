"""estimate_general_weights: the held-out pass that GeneralWeightsHook (and benchmarks) use."""

import pytest
import torch
import torch.nn.functional as F
from mmpretrain.structures import DataSample

from kdcl_mm.engine.general_weights import estimate_general_weights
from tests.tiny import tiny_resnet

NUM_CLASSES = 5
GENERAL = dict(type='GeneralSoftTarget', num_students=2)


@pytest.fixture
def build_kdcl(build_tiny_kdcl):
    """Two identical narrow ResNet-18 students (resnet18_0, resnet18_1), 5 classes."""
    students = [tiny_resnet(NUM_CLASSES, width=4)] * 2
    return lambda soft_target=GENERAL: build_tiny_kdcl(students=students, soft_target=soft_target)


def loader(sizes=(3, 4), seed=0):
    g = torch.Generator().manual_seed(seed)
    return [
        dict(
            inputs=torch.randn(n, 3, 16, 16, generator=g),
            data_samples=[DataSample().set_gt_label(i % NUM_CLASSES) for i in range(n)],
        )
        for n in sizes
    ]


@pytest.mark.parametrize('start_training', [True, False])
def test_matches_generator_on_all_samples_and_restores_mode(start_training, build_kdcl):
    model = build_kdcl().train(start_training)
    bn_before = model.students[0].backbone.bn1.running_mean.clone()
    batches = loader()
    weights, count = estimate_general_weights(model, batches)
    assert count == 7
    assert model.training is start_training
    # Eval mode for the pass: BN running statistics did not move.
    torch.testing.assert_close(model.students[0].backbone.bn1.running_mean, bn_before)
    model.eval()
    with torch.no_grad():
        inputs = torch.cat([b['inputs'] for b in batches])
        probs = [F.softmax(z, dim=1) for z in model.student_logits(inputs)]
    labels = torch.tensor([i % NUM_CLASSES for n in (3, 4) for i in range(n)])
    expected = model.soft_target.estimate_weights(probs, labels)
    torch.testing.assert_close(weights, expected, rtol=1e-5, atol=1e-6)
    assert weights.dtype == model.soft_target.weights.dtype
    # The function returns the weights; it does not set them.
    assert not bool(model.soft_target.estimated)


def test_restores_train_mode_when_the_pass_fails(build_kdcl):
    model = build_kdcl().train()
    bad = [dict(inputs=torch.randn(2, 3, 16, 16), data_samples=[DataSample().set_gt_label(0)])]
    with pytest.raises(Exception):
        estimate_general_weights(model, bad)
    assert model.training


def test_refuses_other_generators_and_empty_loaders(build_kdcl):
    with pytest.raises(ValueError, match='GeneralSoftTarget, got MeanSoftTarget'):
        estimate_general_weights(build_kdcl(dict(type='MeanSoftTarget')), loader())
    with pytest.raises(ValueError, match='heldout'):
        estimate_general_weights(build_kdcl(), [])


@pytest.mark.parametrize('weighting', ['closed_form', 'shrinkage'])
def test_hook_sets_logs_and_records_the_estimate(weighting, build_kdcl):
    from unittest import mock

    from mmengine.logging import MessageHub

    from kdcl_mm.registry import HOOKS

    model = build_kdcl(dict(type='GeneralSoftTarget', num_students=2, weighting=weighting))
    hook = HOOKS.build(dict(type='GeneralWeightsHook', heldout_dataloader=dict(dataset=dict())))
    hook._loader = loader()
    hub = MessageHub(f'test_general_hook_{weighting}')
    runner = mock.Mock(model=model, epoch=3, message_hub=hub)
    weights = hook.estimate(runner)
    assert bool(model.soft_target.estimated)
    torch.testing.assert_close(model.soft_target.weights, weights)
    assert hook.history == [(3, weights.tolist())]
    scalars = hub.log_scalars
    assert scalars['train/general_weight/resnet18_0'].current() == weights[0].item()
    assert scalars['train/general_weight/resnet18_1'].current() == weights[1].item()
    assert ('train/general_shrinkage' in scalars) is (weighting == 'shrinkage')


@pytest.mark.parametrize(
    'epoch, iter_in_epoch, estimates',
    [
        (0, 0, [0]),
        (1, 0, [1]),
        (1, 2, []),  # a mid-epoch resume keeps the checkpoint's weights
    ],
)
def test_hook_estimates_at_epoch_starts_but_not_after_a_mid_epoch_resume(
    epoch, iter_in_epoch, estimates
):
    from types import SimpleNamespace

    from kdcl_mm.engine.hooks import GeneralWeightsHook

    hook = GeneralWeightsHook(heldout_dataloader=dict(dataset=dict(type='HeldOutSplit')))
    seen = []
    hook.estimate = lambda runner: seen.append(runner.epoch)
    runner = SimpleNamespace(epoch=epoch, train_loop=SimpleNamespace(iter_in_epoch=iter_in_epoch))
    hook.before_train_epoch(runner)
    assert seen == estimates
