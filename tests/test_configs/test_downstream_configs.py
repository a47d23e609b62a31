"""configs/mmdet and configs/mmseg: the backbone loads an exported student exactly, or refuses."""

import glob
import os.path as osp
import re

import pytest
import torch
from mmengine.config import Config

import kdcl_mm  # noqa: F401
from tests.paths import REPO  # noqa: E402

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


TINY_DETECTOR = """
_base_ = '{base}'
pretrained = '{student}'
data_root = '{data}/'
metainfo = dict(classes=tuple(str(d) for d in range(10)))
model = dict(
    backbone=dict(depth=18, stem_channels=8, base_channels=8,
                  init_cfg=dict(checkpoint=pretrained)),
    neck=dict(in_channels=[8, 16, 32, 64], out_channels=16),
    rpn_head=dict(in_channels=16, feat_channels=16),
    roi_head=dict(bbox_roi_extractor=dict(out_channels=16),
                  bbox_head=dict(in_channels=16, fc_out_channels=32, num_classes=10)))
train_pipeline = [
    dict(type='LoadImageFromFile'), dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=(64, 64), keep_ratio=True), dict(type='PackDetInputs')]
test_pipeline = [
    dict(type='LoadImageFromFile'), dict(type='Resize', scale=(64, 64), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape',
                                          'scale_factor'))]
train_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, metainfo=metainfo,
                 ann_file='annotations/instances_train.json',
                 data_prefix=dict(img='images/train/'), pipeline=train_pipeline))
val_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, metainfo=metainfo,
                 ann_file='annotations/instances_val.json',
                 data_prefix=dict(img='images/val/'), pipeline=test_pipeline))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = val_evaluator
train_cfg = dict(_delete_=True, type='IterBasedTrainLoop', max_iters=2, val_interval=2)
param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=False, begin=0, end=2)]
default_hooks = dict(checkpoint=dict(by_epoch=False, interval=2), logger=dict(interval=1))
log_processor = dict(by_epoch=False)
log_level = 'WARNING'
"""

TINY_SEGMENTOR = """
_base_ = '{base}'
pretrained = '{student}'
data_root = '{data}/'
model = dict(
    data_preprocessor=dict(size=(64, 64)),
    backbone=dict(depth=18, stem_channels=8, base_channels=8,
                  init_cfg=dict(checkpoint=pretrained)),
    neck=dict(in_channels=[8, 16, 32, 64], out_channels=16),
    decode_head=dict(in_channels=[16, 16, 16, 16], channels=16, num_classes=11))
split = dict(type='MNISTCocoSegDataset', data_root=data_root)
train_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    dataset=dict(_delete_=True, **split,
                 data_prefix=dict(img_path='images/train', seg_map_path='seg_maps/train'),
                 pipeline=[dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
                           dict(type='PackSegInputs')]))
val_dataloader = dict(
    batch_size=1, num_workers=0, persistent_workers=False,
    dataset=dict(_delete_=True, **split,
                 data_prefix=dict(img_path='images/val', seg_map_path='seg_maps/val'),
                 pipeline=[dict(type='LoadImageFromFile'), dict(type='LoadAnnotations'),
                           dict(type='PackSegInputs')]))
test_dataloader = val_dataloader
train_cfg = dict(max_iters=2, val_interval=2)
default_hooks = dict(checkpoint=dict(interval=2), logger=dict(interval=1))
log_level = 'WARNING'
"""


@pytest.fixture(scope='module')
def exported_resnet18(tmp_path_factory):
    """A narrow ResNet-18 student exported from a (untrained) KDCL checkpoint."""
    from mmengine.registry import init_default_scope
    from mmengine.runner import save_checkpoint
    from mmpretrain.registry import MODELS

    from kdcl_mm.apis import export_students

    init_default_scope('mmpretrain')  # module fixtures run before the per-test scope fixture
    root = tmp_path_factory.mktemp('kdcl_ckpt')
    students = [
        dict(
            type='ImageClassifier',
            backbone=dict(type='ResNet', depth=18, stem_channels=8, base_channels=8),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(type='LinearClsHead', num_classes=10, in_channels=64),
        ),
        dict(
            type='ImageClassifier',
            backbone=dict(type='MobileNetV2', widen_factor=0.25),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(type='LinearClsHead', num_classes=10, in_channels=1280),
        ),
    ]
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
def mnist_coco(tmp_path_factory):
    from tools.dataset_converters.mnist_coco import generate_mnist_coco

    root = str(tmp_path_factory.mktemp('mnist_coco') / 'data')
    generate_mnist_coco(
        root, num_train=4, num_val=2, num_test=0, canvas_size=64, scale=(16, 32), progress=False
    )
    return root


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
