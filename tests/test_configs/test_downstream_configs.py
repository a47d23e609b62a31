"""configs/mmdet and configs/mmseg: the backbone loads an exported student exactly, or refuses."""

import glob
import os.path as osp
import re

import pytest
import torch
from mmengine.config import Config

import kdcl_mm  # noqa: F401
from tests.paths import REPO
from tests.tiny import tiny_mobilenet_v2, tiny_resnet

CONFIGS = sorted(glob.glob(osp.join(REPO, 'configs', 'mm[ds]e[tg]', '*.py')))
KDCL_CONFIGS = [c for c in CONFIGS if '-kdcl' in osp.basename(c)]
SOLO_CONFIGS = [c for c in CONFIGS if '-solo' in osp.basename(c)]
# A -solo config is its -kdcl config with another checkpoint path (checked below).
LOADING_CONFIGS = [c for c in CONFIGS if c not in SOLO_CONFIGS]
# Full-size R50 detectors/segmentors take seconds each to initialise on CPU.
HEAVY = pytest.mark.slow


def ids(paths):
    return [osp.relpath(p, osp.join(REPO, 'configs')) for p in paths]


def registry_for(path):
    if f'{osp.sep}mmdet{osp.sep}' in path:
        from mmdet.registry import MODELS
    else:
        from mmseg.registry import MODELS
    return MODELS


def random_state(module, seed):
    """A distinct random value for every tensor (integer buffers too)."""
    gen = torch.Generator().manual_seed(seed)
    return {
        k: torch.randn(v.shape, generator=gen)
        if v.is_floating_point()
        else torch.randint(1, 1000, v.shape, generator=gen, dtype=v.dtype)
        for k, v in module.state_dict().items()
    }


def bare_backbone_state(cfg, seed):
    """Random weights for the config's backbone, built alone without its init_cfg."""
    backbone_cfg = cfg.model.backbone.copy()
    backbone_cfg.pop('init_cfg')
    return random_state(registry_for(cfg.filename).build(backbone_cfg), seed)


def build_with_checkpoint(cfg, checkpoint, prefix='backbone.'):
    cfg.model.backbone.init_cfg.update(checkpoint=checkpoint, prefix=prefix)
    model = registry_for(cfg.filename).build(cfg.model)
    return model


def assert_backbone_equal(model, expected):
    state = model.backbone.state_dict()
    assert state.keys() == expected.keys()
    for key, value in expected.items():
        assert torch.equal(state[key], value), key


def test_every_family_has_kdcl_and_solo_configs():
    names = [osp.basename(c) for c in CONFIGS]
    for family in (
        'faster-rcnn_r50',
        'retinanet_r50',
        'mask-rcnn_r50',
        'faster-rcnn_mobilenetv2',
        'retinanet_mobilenetv2',
        'fpn_r50',
        'deeplabv3plus_r50-d8',
        'fpn_mobilenet-v2',
    ):
        for kind in ('-kdcl', '-solo'):
            assert any(n.startswith(family + kind) for n in names), family + kind


@pytest.mark.parametrize('path', CONFIGS, ids=ids(CONFIGS))
def test_backbone_is_the_students_class_loaded_strictly_from_pretrained(path):
    cfg = Config.fromfile(path)
    backbone = cfg.model.backbone
    assert backbone.type in ('mmpretrain.ResNet', 'mmpretrain.MobileNetV2')
    # The base file's `pretrained` is substituted at parse time: a config that changes the
    # variable must also re-set init_cfg.checkpoint, or it would load the wrong student.
    assert backbone.init_cfg == dict(
        type='StrictPretrained', checkpoint=cfg.pretrained, prefix='backbone.'
    )
    # kdcl_mm.downstream: kdcl_mm plus the compiled-ops check that detectors and segmentors need.
    assert {'mmpretrain.models', 'kdcl_mm.downstream'} <= set(cfg.custom_imports.imports)
    if backbone.type == 'mmpretrain.ResNet':
        assert backbone.zero_init_residual is False


@pytest.mark.parametrize('solo', SOLO_CONFIGS, ids=ids(SOLO_CONFIGS))
def test_solo_baseline_differs_only_in_the_checkpoint(solo):
    kdcl = Config.fromfile(solo.replace('-solo', '-kdcl')).to_dict()
    baseline = Config.fromfile(solo).to_dict()
    assert baseline['pretrained'] != kdcl['pretrained']
    for cfg in (kdcl, baseline):
        del cfg['pretrained'], cfg['model']['backbone']['init_cfg']['checkpoint']
    assert baseline == kdcl


def _heavy_if_r50(paths):
    return [pytest.param(p, marks=HEAVY) if '_r50' in osp.basename(p) else p for p in paths]


@pytest.mark.parametrize('path', _heavy_if_r50(LOADING_CONFIGS), ids=ids(LOADING_CONFIGS))
def test_init_weights_loads_every_backbone_tensor_of_an_exported_student(path, tmp_path):
    cfg = Config.fromfile(path)
    weights = bare_backbone_state(cfg, seed=0)
    exported = {f'backbone.{k}': v for k, v in weights.items()}
    exported['head.fc.weight'] = torch.ones(10, 4)  # the classifier head is not loaded
    checkpoint = str(tmp_path / 'student.pth')
    torch.save({'state_dict': exported, 'meta': {}}, checkpoint)
    model = build_with_checkpoint(cfg, checkpoint)
    model.init_weights()
    assert_backbone_equal(model, weights)


@pytest.mark.parametrize(
    'name',
    [
        'faster-rcnn_mobilenetv2-kdcl_fpn_1x_coco.py',
        'fpn_mobilenet-v2-kdcl_4xb4-80k_coco-stuff164k-512x512.py',
    ],
)
def test_init_weights_from_a_kdcl_checkpoint_with_the_students_prefix(name, tmp_path):
    path = next(c for c in KDCL_CONFIGS if osp.basename(c) == name)
    cfg = Config.fromfile(path)
    other, wanted = bare_backbone_state(cfg, seed=1), bare_backbone_state(cfg, seed=2)
    state = {f'students.0.backbone.{k}': v for k, v in other.items()}
    state.update({f'students.1.backbone.{k}': v for k, v in wanted.items()})
    state['students.1.head.fc.weight'] = torch.ones(10, 4)
    checkpoint = str(tmp_path / 'kdcl.pth')
    torch.save({'state_dict': state, 'meta': {}}, checkpoint)
    model = build_with_checkpoint(cfg, checkpoint, prefix='students.1.backbone.')
    model.init_weights()
    assert_backbone_equal(model, wanted)


@pytest.mark.parametrize(
    'path',
    [
        pytest.param(KDCL_CONFIGS[0]),
        pytest.param(next(c for c in KDCL_CONFIGS if 'faster-rcnn_r50' in c), marks=HEAVY),
    ],
    ids=lambda p: osp.basename(p),
)
@pytest.mark.parametrize('change', ['missing', 'unexpected'])
def test_a_missing_or_extra_backbone_key_stops_init_weights(path, change, tmp_path):
    cfg = Config.fromfile(path)
    weights = bare_backbone_state(cfg, seed=3)
    if change == 'missing':
        key = next(k for k in weights if k.endswith('num_batches_tracked'))
        weights.pop(key)
    else:
        key = 'layer9.conv.weight'
        weights[key] = torch.ones(1)
    checkpoint = str(tmp_path / 'student.pth')
    torch.save({'state_dict': {f'backbone.{k}': v for k, v in weights.items()}}, checkpoint)
    model = build_with_checkpoint(cfg, checkpoint)
    with pytest.raises(ValueError, match=rf'{change} keys \(1\): {re.escape(key)}'):
        model.init_weights()


TINY_DETECTOR = osp.join(REPO, 'tests', 'fixtures', 'configs', 'tiny_faster_rcnn_mnist_coco.py.in')

TINY_SEGMENTOR = osp.join(
    REPO, 'tests', 'fixtures', 'configs', 'tiny_semantic_fpn_mnist_coco.py.in'
)


@pytest.fixture(scope='module')
def exported_resnet18(tmp_path_factory):
    """A narrow ResNet-18 student exported from a (untrained) KDCL checkpoint."""
    from mmengine.registry import init_default_scope
    from mmengine.runner import save_checkpoint

    from kdcl_mm.apis import export_students
    from kdcl_mm.registry import MODELS

    init_default_scope('kdcl_mm')  # module fixtures run before the per-test scope fixture
    root = tmp_path_factory.mktemp('kdcl_ckpt')
    students = [tiny_resnet(), tiny_mobilenet_v2()]
    cfg = Config(
        dict(model=dict(type='KDCL', students=students, soft_target=dict(type='MeanSoftTarget')))
    )
    model = MODELS.build(cfg.model)
    model.init_weights()
    save_checkpoint(
        {'meta': {'cfg': cfg.pretty_text}, 'state_dict': model.state_dict()}, str(root / 'kdcl.pth')
    )
    return export_students(str(root / 'kdcl.pth'), str(root / 'students'), students=[0])[0]


@pytest.fixture(scope='module')
def mnist_coco(make_mnist_coco):
    return make_mnist_coco(num_train=4, num_val=2, num_test=0, canvas_size=64, scale=(16, 32))


@pytest.mark.slow
@pytest.mark.parametrize(
    'base, template, metric',
    [
        ('mmdet/faster-rcnn_r50-kdcl_fpn_1x_coco.py', TINY_DETECTOR, 'val/coco/bbox_mAP'),
        ('mmseg/fpn_r50-kdcl_4xb4-80k_coco-stuff164k-512x512.py', TINY_SEGMENTOR, 'val/mIoU'),
    ],
    ids=['faster-rcnn', 'semantic-fpn'],
)
def test_tiny_downstream_run_from_an_exported_student(
    base, template, metric, exported_resnet18, mnist_coco, tmp_path
):
    from mmengine.runner import Runner

    path = tmp_path / 'tiny.py'
    with open(template) as f:
        template = f.read()
    path.write_text(
        template.format(
            base=osp.join(REPO, 'configs', base), student=exported_resnet18, data=mnist_coco
        )
    )
    cfg = Config.fromfile(str(path))
    cfg.work_dir = str(tmp_path / 'work_dir')
    runner = Runner.from_cfg(cfg)
    runner.train()

    assert 0.0 <= runner.message_hub.get_scalar(metric).current() <= 100.0
    student = torch.load(exported_resnet18, weights_only=True)['state_dict']
    backbone = runner.model.backbone.state_dict()
    # frozen_stages=1 (detector) keeps the stem as loaded; training changed the deeper layers.
    if 'mmdet' in base:
        assert torch.equal(backbone['conv1.weight'], student['backbone.conv1.weight'])
    deep = 'layer4.1.conv2.weight'
    assert not torch.equal(backbone[deep], student['backbone.' + deep])
