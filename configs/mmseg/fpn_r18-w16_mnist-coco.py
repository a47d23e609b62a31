# Semantic FPN on MNIST-COCO (128x128 canvases of real MNIST digits; 11 classes: background and
# the ten digits), CPU-sized, with the narrow ResNet-18 student of
# configs/kdcl/resnet18-w16_mbv2-w0.5_mnist.py as its backbone. The downstream half of the
# embedded demo (docs/demo.md): trained from the KDCL student and from the student trained alone.
#   python tools/dataset_converters/mnist_coco.py --out-dir data/mnist_coco
#   python tools/train.py configs/mmseg/fpn_r18-w16_mnist-coco.py \
#       --cfg-options model.backbone.init_cfg.checkpoint=<student>.pth
_base_ = [
    'mmseg::_base_/models/fpn_r50.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_20k.py',
    '../_base_/datasets/mnist_normalization.py',
    '../_base_/models/downstream_backbones.py',
]
custom_imports = dict(
    imports=['mmpretrain.models', 'kdcl_mm.downstream', 'kdcl_mm.datasets.mnist_coco_seg'],
    allow_failed_imports=False,
)

# The exported KDCL student (tools/export_students.py); a solo ImageClassifier checkpoint
# works too (its keys are also backbone.*). mmengine substitutes this variable when the file
# is parsed: to change it later, override model.backbone.init_cfg.checkpoint.
pretrained = 'work_dirs/resnet18-w16_mbv2-w0.5_mnist/students/resnet18.pth'
data_root = 'data/mnist_coco/'
canvas = (128, 128)
norm_cfg = dict(type='BN', requires_grad=True)  # one CPU process: no SyncBN

model = dict(
    # The students' input normalisation.
    data_preprocessor=dict(mean=_base_.mnist_mean, std=_base_.mnist_std, size=canvas),
    pretrained=None,
    backbone=dict(
        _delete_=True,
        type='mmpretrain.ResNet',  # the student's own class and arguments: keys match exactly
        depth=18,
        stem_channels=16,
        base_channels=16,
        out_indices=(0, 1, 2, 3),
        zero_init_residual=False,  # mmpretrain skips it only for type='Pretrained'
        init_cfg=dict(type='StrictPretrained', checkpoint=pretrained, prefix='backbone.'),
    ),
    neck=dict(in_channels=[16, 32, 64, 128], out_channels=64),
    decode_head=dict(
        in_channels=[64, 64, 64, 64],
        channels=64,
        num_classes=11,
        norm_cfg=norm_cfg,
        # ~96% of the pixels are background: unweighted, the head predicted only background
        # after 450 iterations (val mIoU 8.8 = background / 11 classes; docs/demo.md).
        loss_decode=dict(class_weight=[0.1] + [1.0] * 10),
    ),
)

dataset_type = 'MNISTCocoSegDataset'
# _scope_='mmseg' on the typed dicts this file defines whole (no mmseg:: base has them): in a
# project that inherits this file as kdcl_mm::mmseg/..., mmengine would scope them to kdcl_mm,
# whose registries hold no mmseg dataset, transform or metric (kdcl_mm/registry.py).
# No flips: a mirrored digit is a different symbol. Canvases are already 128x128.
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations'),
    dict(type='PackSegInputs'),
]
test_pipeline = train_pipeline
train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='InfiniteSampler', shuffle=True),
    dataset=dict(
        _scope_='mmseg',
        type=dataset_type,
        data_root=data_root,
        pipeline=train_pipeline,
        data_prefix=dict(img_path='images/train', seg_map_path='seg_maps/train'),
    ),
)
val_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(
        _scope_='mmseg',
        type=dataset_type,
        data_root=data_root,
        pipeline=test_pipeline,
        data_prefix=dict(img_path='images/val', seg_map_path='seg_maps/val'),
    ),
)
test_dataloader = dict(
    val_dataloader,
    dataset=dict(
        _scope_='mmseg',
        type=dataset_type,
        data_root=data_root,
        pipeline=test_pipeline,
        data_prefix=dict(img_path='images/test', seg_map_path='seg_maps/test'),
    ),
)
val_evaluator = dict(_scope_='mmseg', type='IoUMetric', iou_metrics=['mIoU'])
test_evaluator = val_evaluator

# 600 training canvases / batch 8 = 75 iterations per epoch: 12 epochs. lr and length chosen
# on the val canvases with the solo backbone (docs/demo.md).
max_iters = 900
train_cfg = dict(max_iters=max_iters, val_interval=max_iters)
optim_wrapper = dict(optimizer=dict(lr=0.04))
param_scheduler = [
    dict(type='PolyLR', eta_min=1e-4, power=0.9, begin=0, end=max_iters, by_epoch=False)
]
default_hooks = dict(
    _base_.fault_hooks,  # non-finite steps skipped, bad images named (downstream_backbones.py)
    logger=dict(interval=25),
    checkpoint=dict(interval=max_iters, max_keep_ckpts=1),
    visualization=dict(draw=False),
)
env_cfg = dict(dist_cfg=dict(backend='gloo'), cudnn_benchmark=False)
