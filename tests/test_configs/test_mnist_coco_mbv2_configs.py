"""The MobileNetV2 MNIST-COCO detector and segmentor (the demo's second downstream backbone):
they load the MobileNetV2 student that tools/export_students.py writes from a KDCL checkpoint of
the demo's recipe, strictly, and the FPN takes its feature maps."""

import os.path as osp

import pytest
import torch
from mmengine.config import Config

from kdcl_mm.apis import export_students
from kdcl_mm.registry import MODELS as KDCL_MODELS
from tests.paths import REPO

KDCL_CONFIG = osp.join(REPO, 'configs', 'kdcl', 'resnet18-w16_mbv2-w0.5_mnist.py')
MBV2_CONFIGS = {
    'detection': osp.join(REPO, 'configs', 'mmdet', 'faster-rcnn_mbv2-w0.5_fpn_mnist-coco.py'),
    'segmentation': osp.join(REPO, 'configs', 'mmseg', 'fpn_mbv2-w0.5_mnist-coco.py'),
}
BACKBONE_FRAGMENTS = osp.join(REPO, 'configs', '_base_', 'models', 'downstream_backbones.py')
R18_CONFIGS = {
    'detection': osp.join(REPO, 'configs', 'mmdet', 'faster-rcnn_r18-w16_fpn_mnist-coco.py'),
    'segmentation': osp.join(REPO, 'configs', 'mmseg', 'fpn_r18-w16_mnist-coco.py'),
}


def registry(task):
    if task == 'detection':
        from mmdet.registry import MODELS
    else:
        from mmseg.registry import MODELS
    return MODELS


@pytest.fixture(scope='module')
def exported_mbv2(tmp_path_factory):
    """``(path, backbone state)`` of the MobileNetV2 exported from a random KDCL checkpoint."""
    from mmengine.registry import init_default_scope

    init_default_scope('kdcl_mm')  # module fixtures run before the per-test scope fixture
    root = tmp_path_factory.mktemp('kdcl')
    cfg = Config.fromfile(KDCL_CONFIG)
    kdcl = KDCL_MODELS.build(cfg.model)
    gen = torch.Generator().manual_seed(0)
    state = {
        k: torch.randn(v.shape, generator=gen) if v.is_floating_point() else v + 3
        for k, v in kdcl.state_dict().items()
    }
    checkpoint = str(root / 'epoch_30.pth')
    torch.save(dict(state_dict=state, meta=dict(cfg=cfg.pretty_text)), checkpoint)
    paths = export_students(checkpoint, str(root / 'students'))
    path = next(p for p in paths if osp.basename(p) == 'mobilenet_v2.pth')  # the demo's name
    index = kdcl.student_names.index('mobilenet_v2')
    prefix = f'students.{index}.backbone.'
    return path, {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}


@pytest.mark.parametrize('task', ['detection', 'segmentation'])
def test_mbv2_config_loads_the_exported_student_strictly(task, exported_mbv2):
    path, expected = exported_mbv2
    cfg = Config.fromfile(MBV2_CONFIGS[task])
    assert cfg.model.backbone.type == 'mmpretrain.MobileNetV2'
    assert cfg.model.backbone.widen_factor == 0.5  # the student's own argument
    cfg.model.backbone.init_cfg.checkpoint = path
    model = registry(task).build(cfg.model)
    model.init_weights()
    state = model.backbone.state_dict()
    assert state.keys() == expected.keys()
    for key, value in expected.items():
        assert torch.equal(state[key], value), key
    # The FPN's in_channels match the four feature maps of a 128x128 canvas.
    model.eval()
    with torch.no_grad():
        feats = model.extract_feat(torch.zeros(1, 3, 128, 128))
    assert [f.shape[-1] for f in feats[:4]] == [32, 16, 8, 4]  # strides 4, 8, 16, 32


@pytest.mark.parametrize('task', ['detection', 'segmentation'])
def test_mbv2_config_differs_from_the_resnet18_one_only_in_the_backbone(task):
    mbv2 = Config.fromfile(MBV2_CONFIGS[task]).to_dict()
    r18 = Config.fromfile(R18_CONFIGS[task]).to_dict()
    fragments = Config.fromfile(BACKBONE_FRAGMENTS).to_dict()  # variables, not settings
    for cfg in (mbv2, r18):
        del cfg['pretrained'], cfg['model']['backbone']
        cfg['model']['neck'].pop('in_channels')
        for key in fragments:
            cfg.pop(key, None)
    assert mbv2 == r18
