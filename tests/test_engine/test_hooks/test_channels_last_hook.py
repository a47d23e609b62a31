from types import SimpleNamespace

import pytest
import torch

import kdcl_mm  # noqa: F401
from kdcl_mm.registry import HOOKS, MODELS
from tests.tiny import tiny_resnet


def tiny_classifier():
    return MODELS.build(tiny_resnet(num_classes=3))


def conv_weights(model):
    return [m.weight for m in model.modules() if isinstance(m, torch.nn.Conv2d)]


def is_channels_last(t):
    # A (O, I, 1, 1) kernel is contiguous in both formats; the 3x3 ones tell them apart.
    return t.is_contiguous(memory_format=torch.channels_last) and not t.is_contiguous()


@pytest.mark.parametrize('phase', ['before_train', 'before_val', 'before_test'])
def test_hook_converts_conv_weights_in_place(phase):
    model = tiny_classifier()
    params = list(model.parameters())
    weights = [w for w in conv_weights(model) if w.shape[-1] > 1]
    assert weights and not any(is_channels_last(w) for w in weights)
    hook = HOOKS.build(dict(type='ChannelsLastHook'))
    getattr(hook, phase)(SimpleNamespace(model=model))
    assert all(is_channels_last(w) for w in weights)
    # Same Parameter objects: an optimiser built before the hook still steps them.
    assert all(a is b for a, b in zip(params, model.parameters()))


def test_outputs_and_training_unchanged_by_the_layout():
    torch.manual_seed(0)
    model = tiny_classifier().eval()
    x = torch.randn(2, 3, 32, 32)
    expected = model(x)
    HOOKS.build(dict(type='ChannelsLastHook')).before_val(SimpleNamespace(model=model))
    torch.testing.assert_close(model(x), expected, rtol=1e-4, atol=1e-5)
    model.train()
    model(x).sum().backward()
    assert all(is_channels_last(w.grad) for w in conv_weights(model) if w.shape[-1] > 1)
