"""CIFAR ResNet-(6n+2) and Wide-ResNet backbones: sizes, shapes, training, errors."""

import pytest
import torch
from mmpretrain.structures import DataSample

import kdcl_mm  # noqa: F401
from kdcl_mm.models.backbones import CifarResNet, WideResNet
from kdcl_mm.models.backbones.wide_resnet import WideBasicBlock
from kdcl_mm.registry import MODELS

# Option-B projections of a 16/32/64 CIFAR ResNet: (16*32 conv + 2*32 BN) + (32*64 conv + 2*64 BN).
PROJECTION_PARAMS = 16 * 32 + 2 * 32 + 32 * 64 + 2 * 64


def count_params(module):
    return sum(p.numel() for p in module.parameters())


def classifier_cfg(backbone, in_channels, num_classes=100):
    return dict(
        type='ImageClassifier',
        backbone=backbone,
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=num_classes, in_channels=in_channels),
    )


# Hand-computed with a 100-class linear head (64*100 + 100 = 6,500; WRN-16-2: 128*100 + 100).
# ResNet-(6n+2): stem 3*16*9 + 32 = 464; a 16-ch block 2*(16*16*9) + 2*32 = 4,672, a 32-ch block
# 18,560, a 64-ch block 73,984; first blocks of stages 2/3: 13,952 / 55,552; + projections 2,752.
#   ResNet-32  (n=5):  464 + 5*4672 + 13952 + 4*18560 + 55552 + 4*73984 + 2752 + 6500 = 472,756
#   ResNet-110 (n=18): 464 + 18*4672 + 13952 + 17*18560 + 55552 + 17*73984 + 2752 + 6500 = 1,736,564
# WRN-16-2 (n=2, pre-activation, bias-free 1x1 projections): stem 432; stage 1: 14,432 + 18,560;
# stage 2: 57,536 + 73,984; stage 3: 229,760 + 295,424; final BN 256; head 12,900 = 703,284.
@pytest.mark.parametrize(
    'backbone, in_channels, expected',
    [
        (dict(type='CifarResNet', depth=32), 64, 472_756),
        (dict(type='CifarResNet', depth=110), 64, 1_736_564),
        (dict(type='WideResNet', depth=16, widen_factor=2), 128, 703_284),
    ],
)
def test_parameter_count_with_100_class_head(backbone, in_channels, expected):
    assert count_params(MODELS.build(classifier_cfg(backbone, in_channels))) == expected


# He et al. (2016), Table 6, count CIFAR-10 models with parameter-free (option A) shortcuts.
@pytest.mark.parametrize(
    'depth, published_millions', [(20, 0.27), (32, 0.46), (44, 0.66), (56, 0.85), (110, 1.7)]
)
def test_resnet_matches_he_et_al_table6(depth, published_millions):
    option_a_cifar10 = count_params(CifarResNet(depth)) - PROJECTION_PARAMS + 64 * 10 + 10
    digits = 1 if published_millions >= 1 else 2
    assert round(option_a_cifar10 / 1e6, digits) == published_millions


# Zagoruyko & Komodakis (2016) report 36.5M parameters for WRN-28-10 (CIFAR-10 head); the
# commonly quoted WRN-16-2 figure is 0.69M.
@pytest.mark.parametrize('depth, widen_factor, published_millions', [(28, 10, 36.5), (16, 2, 0.69)])
def test_wide_resnet_matches_published_sizes(depth, widen_factor, published_millions):
    backbone = WideResNet(depth, widen_factor)
    cifar10 = count_params(backbone) + backbone.feat_dim * 10 + 10
    digits = 1 if published_millions >= 1 else 2
    assert round(cifar10 / 1e6, digits) == published_millions


@pytest.mark.parametrize(
    'backbone, channels',
    [
        (dict(type='CifarResNet', depth=20), (16, 32, 64)),
        (dict(type='CifarResNet', depth=20, base_channels=32), (32, 64, 128)),
        (dict(type='WideResNet', depth=16, widen_factor=2), (32, 64, 128)),
    ],
)
def test_output_shapes_without_max_pool(backbone, channels):
    outs = MODELS.build(dict(backbone, out_indices=(0, 1, 2)))(torch.randn(2, 3, 32, 32))
    assert [tuple(o.shape) for o in outs] == [(2, c, s, s) for c, s in zip(channels, (32, 16, 8))]


def test_default_output_is_the_last_stage():
    x = torch.randn(2, 3, 32, 32)
    assert [tuple(o.shape) for o in CifarResNet(20)(x)] == [(2, 64, 8, 8)]
    assert [tuple(o.shape) for o in WideResNet(16, 2)(x)] == [(2, 128, 8, 8)]


def test_wide_resnet_applies_final_bn_relu():
    backbone = WideResNet(10, 1, out_indices=(1, 2))
    stage2, final = backbone(torch.randn(2, 3, 32, 32))
    # Pre-activation stages end with a residual sum; only the head-facing output is rectified.
    assert (stage2 < 0).any()
    assert (final >= 0).all() and (final > 0).any()


@pytest.mark.parametrize('in_channels, out_channels, stride', [(4, 8, 2), (8, 8, 1)])
def test_wide_block_follows_the_pre_activation_formula(in_channels, out_channels, stride):
    block = WideBasicBlock(in_channels, out_channels, stride=stride).eval()
    assert (block.projection is None) == (in_channels == out_channels and stride == 1)
    x = torch.randn(2, in_channels, 6, 6)

    def fresh_bn(t):  # a fresh BatchNorm in eval mode only rescales by 1/sqrt(1 + eps)
        return t / (1 + block.norm1.eps) ** 0.5

    preact = torch.relu(fresh_bn(x))
    # The authors' code feeds the projection the pre-activated input, not x.
    shortcut = x if block.projection is None else block.projection(preact)
    expected = shortcut + block.conv2(torch.relu(fresh_bn(block.conv1(preact))))
    torch.testing.assert_close(block(x), expected)


@pytest.mark.parametrize(
    'backbone, in_channels',
    [
        (dict(type='CifarResNet', depth=8), 64),
        (dict(type='WideResNet', depth=10, widen_factor=1, drop_rate=0.3), 64),
    ],
)
def test_one_sgd_step_changes_every_parameter(backbone, in_channels):
    torch.manual_seed(0)
    model = MODELS.build(classifier_cfg(backbone, in_channels, num_classes=10))
    before = [p.detach().clone() for p in model.parameters()]
    optimizer = torch.optim.SGD(model.parameters(), lr=0.1)
    samples = [DataSample().set_gt_label(i) for i in (3, 7)]
    losses = model(torch.randn(2, 3, 32, 32), samples, mode='loss')
    losses['loss'].backward()
    optimizer.step()
    unchanged = [n for (n, p), b in zip(model.named_parameters(), before) if torch.equal(p, b)]
    assert unchanged == []


def test_image_classifier_from_config_computes_a_loss():
    model = MODELS.build(classifier_cfg(dict(type='CifarResNet', depth=32), 64))
    assert isinstance(model.backbone, CifarResNet)
    samples = [DataSample().set_gt_label(i) for i in (0, 99)]
    loss = model(torch.randn(2, 3, 32, 32), samples, mode='loss')['loss']
    assert loss.ndim == 0 and torch.isfinite(loss) and loss > 0
    loss.backward()
    assert model.backbone.conv1.weight.grad.abs().sum() > 0


def test_frozen_stages_and_norm_eval_reach_resnet():
    backbone = CifarResNet(8, frozen_stages=1, norm_eval=True)
    backbone.train()
    assert not any(p.requires_grad for p in backbone.conv1.parameters())
    assert not any(p.requires_grad for p in backbone.layer1.parameters())
    assert all(p.requires_grad for p in backbone.layer2.parameters())
    assert not backbone.layer3[0].norm1.training


@pytest.mark.parametrize('depth', [18, 33, 2, '32'])
def test_cifar_resnet_rejects_depth_not_6n_plus_2(depth):
    with pytest.raises(ValueError, match=r'backbone\.depth must be 6n\+2'):
        MODELS.build(dict(type='CifarResNet', depth=depth))


@pytest.mark.parametrize('depth', [18, 4, 15.0])
def test_wide_resnet_rejects_depth_not_6n_plus_4(depth):
    with pytest.raises(ValueError, match=r'backbone\.depth must be 6n\+4'):
        MODELS.build(dict(type='WideResNet', depth=depth, widen_factor=2))


@pytest.mark.parametrize('widen_factor', [0, 1.5])
def test_wide_resnet_rejects_bad_widen_factor(widen_factor):
    with pytest.raises(ValueError, match=r'backbone\.widen_factor'):
        WideResNet(16, widen_factor)


@pytest.mark.parametrize('cls, args', [(CifarResNet, (20,)), (WideResNet, (16, 2))])
@pytest.mark.parametrize('out_indices', [(3,), (), (-1,)])
def test_out_indices_must_name_a_stage(cls, args, out_indices):
    with pytest.raises(ValueError, match=r'backbone\.out_indices'):
        cls(*args, out_indices=out_indices)
