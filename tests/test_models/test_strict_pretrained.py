"""StrictPretrained: loads every tensor exactly, or refuses naming the offending keys."""

import re

import pytest
import torch
import torch.nn as nn
from mmcv.cnn import ConvModule
from mmengine.model import BaseModule

import kdcl_mm  # noqa: F401
from kdcl_mm.models.strict_pretrained import StrictPretrainedInit


class TinyBackbone(BaseModule):
    """A ConvModule child (which has its own init_weights) and a plain Linear."""

    def __init__(self, init_cfg=None):
        super().__init__(init_cfg=init_cfg)
        self.stem = ConvModule(3, 4, 3, norm_cfg=dict(type='BN'))
        self.fc = nn.Linear(4, 2)


def random_state(module: nn.Module, seed: int) -> dict:
    """A distinct random value for every tensor, integer buffers included."""
    gen = torch.Generator().manual_seed(seed)
    state = {}
    for key, value in module.state_dict().items():
        if value.is_floating_point():
            state[key] = torch.randn(value.shape, generator=gen)
        else:
            state[key] = torch.randint(1, 1000, value.shape, generator=gen, dtype=value.dtype)
    return state


def save(tmp_path, state_dict, name='ckpt.pth'):
    path = str(tmp_path / name)
    torch.save({'state_dict': state_dict, 'meta': {}}, path)
    return path


def strict_init(path, prefix='backbone.'):
    return dict(type='StrictPretrained', checkpoint=path, prefix=prefix)


def assert_state_equal(module, expected):
    state = module.state_dict()
    assert state.keys() == expected.keys()
    for key, value in expected.items():
        assert torch.equal(state[key], value), key


def test_loads_every_tensor_and_is_not_overwritten_by_children(tmp_path):
    # ConvModule.init_weights would re-initialise conv and BN after a non-deferred load.
    weights = random_state(TinyBackbone(), seed=1)
    path = save(
        tmp_path,
        {'backbone.' + k: v for k, v in weights.items()} | {'head.fc.weight': torch.zeros(3, 3)},
    )
    model = TinyBackbone(init_cfg=strict_init(path))
    model.init_weights()
    assert_state_equal(model, weights)


def test_without_prefix_loads_the_whole_state_dict_and_strips_module(tmp_path):
    weights = random_state(TinyBackbone(), seed=2)
    path = save(tmp_path, {'module.' + k: v for k, v in weights.items()})
    model = TinyBackbone(init_cfg=strict_init(path, prefix=None))
    model.init_weights()
    assert_state_equal(model, weights)


def test_kdcl_prefix_selects_that_student(tmp_path):
    first, second = random_state(TinyBackbone(), 3), random_state(TinyBackbone(), 4)
    state = {f'students.0.backbone.{k}': v for k, v in first.items()}
    state.update({f'students.1.backbone.{k}': v for k, v in second.items()})
    model = TinyBackbone(init_cfg=strict_init(save(tmp_path, state), 'students.1.backbone'))
    model.init_weights()
    assert_state_equal(model, second)


@pytest.mark.parametrize(
    'change, named',
    [
        (
            lambda s: s.pop('stem.bn.num_batches_tracked'),
            'missing keys (1): stem.bn.num_batches_tracked',
        ),
        (lambda s: s.pop('fc.bias'), 'missing keys (1): fc.bias'),
        (lambda s: s.update({'fc.extra': torch.ones(1)}), 'unexpected keys (1): fc.extra'),
        (lambda s: s.update({'fc.bias': torch.ones(3)}), 'fc.bias: checkpoint (3,) vs model (2,)'),
    ],
)
def test_mismatch_raises_naming_keys_checkpoint_and_prefix(tmp_path, change, named):
    weights = random_state(TinyBackbone(), seed=5)
    change(weights)
    path = save(tmp_path, {'backbone.' + k: v for k, v in weights.items()})
    model = TinyBackbone(init_cfg=strict_init(path))
    with pytest.raises(ValueError) as error:
        model.init_weights()
    message = str(error.value)
    assert named in message and path in message and "'backbone.'" in message


def test_unknown_prefix_lists_the_available_ones(tmp_path):
    state = {f'students.0.backbone.{k}': v for k, v in random_state(TinyBackbone(), 6).items()}
    model = TinyBackbone(init_cfg=strict_init(save(tmp_path, state), 'backbone.'))
    with pytest.raises(ValueError, match=re.escape("prefixes are ['students.0.backbone.']")):
        model.init_weights()


def test_registered_for_mmdet_and_mmseg_models():
    from mmdet.registry import WEIGHT_INITIALIZERS as DET
    from mmpretrain.registry import WEIGHT_INITIALIZERS as CLS
    from mmseg.registry import WEIGHT_INITIALIZERS as SEG

    for registry in (DET, SEG, CLS):
        assert registry.get('StrictPretrained') is StrictPretrainedInit
