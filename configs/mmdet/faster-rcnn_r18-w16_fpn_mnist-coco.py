# Faster R-CNN-FPN on MNIST-COCO (128x128 canvases of real MNIST digits), CPU-sized, with the
# narrow ResNet-18 student of configs/kdcl/resnet18-w16_mbv2-w0.5_mnist.py as its backbone.
# The downstream half of the embedded demo (docs/demo.md): the same detector is trained from
# the KDCL student and from the student trained alone, only `pretrained` differs.
#   python tools/dataset_converters/mnist_coco.py --out-dir data/mnist_coco
#   python tools/train.py configs/mmdet/faster-rcnn_r18-w16_fpn_mnist-coco.py \
#       --cfg-options model.backbone.init_cfg.checkpoint=<student>.pth
_base_ = [
    'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py',
    '../_base_/datasets/mnist_normalization.py',
    '../_base_/models/downstream_backbones.py',
]
custom_imports = dict(
    imports=['mmpretrain.models', 'kdcl_mm.downstream'], allow_failed_imports=False
)

# The exported KDCL student (tools/export_students.py); a solo ImageClassifier checkpoint
# works too (its keys are also backbone.*). mmengine substitutes this variable when the file
# is parsed: to change it later, override model.backbone.init_cfg.checkpoint.
pretrained = 'work_dirs/resnet18-w16_mbv2-w0.5_mnist/students/resnet18.pth'
data_root = 'data/mnist_coco/'
canvas = (128, 128)

model = dict(
    # The students' input normalisation.
    data_preprocessor=dict(mean=_base_.mnist_mean, std=_base_.mnist_std),
    backbone=dict(
        type='mmpretrain.ResNet',  # the student's own class and arguments: keys match exactly
        depth=18,
        stem_channels=16,
        base_channels=16,
        zero_init_residual=False,  # mmpretrain skips it only for type='Pretrained'
        # Fine-tune all of it, BN statistics included: they were estimated on white digits on
        # black, not on textured colour canvases (frozen, val bbox mAP stayed below 2 after 4
        # epochs; trained, 24; docs/demo.md).
        frozen_stages=-1,
        norm_eval=False,
        init_cfg=dict(type='StrictPretrained', checkpoint=pretrained, prefix='backbone.'),
    ),
    neck=dict(in_channels=[16, 32, 64, 128], out_channels=64),
    # Digits are 12-48 pixels: anchors of 16 (stride 4) to 256 pixels.
    rpn_head=dict(in_channels=64, feat_channels=64, anchor_generator=dict(scales=[4])),
    roi_head=dict(
        bbox_roi_extractor=dict(out_channels=64),
        bbox_head=dict(in_channels=64, fc_out_channels=256, num_classes=10),
    ),
    train_cfg=dict(
        rpn=dict(sampler=dict(num=128)),
        rpn_proposal=dict(nms_pre=500, max_per_img=200),
        rcnn=dict(sampler=dict(num=128)),
    ),
    test_cfg=dict(rpn=dict(nms_pre=300, max_per_img=100), rcnn=dict(max_per_img=20)),
)

# No flips: a mirrored digit is a different symbol.
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='Resize', scale=canvas, keep_ratio=True),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='Resize', scale=canvas, keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(
        type='PackDetInputs',
        meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor'),
    ),
]
metainfo = dict(classes=tuple(str(d) for d in range(10)))
train_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_train.json',
        data_prefix=dict(img='images/train/'),
        filter_cfg=dict(filter_empty_gt=True, min_size=0),
        pipeline=train_pipeline,
    ),
)
val_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_val.json',
        data_prefix=dict(img='images/val/'),
        pipeline=test_pipeline,
    ),
)
test_dataloader = dict(
    batch_size=8,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        data_root=data_root,
        metainfo=metainfo,
        ann_file='annotations/instances_test.json',
        data_prefix=dict(img='images/test/'),
        pipeline=test_pipeline,
    ),
)
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val.json')
test_evaluator = dict(ann_file=data_root + 'annotations/instances_test.json')

max_epochs = 6
train_cfg = dict(max_epochs=max_epochs, val_interval=max_epochs)
optim_wrapper = dict(clip_grad=dict(max_norm=10, norm_type=2))
param_scheduler = [
    dict(type='LinearLR', start_factor=0.01, by_epoch=False, begin=0, end=100),
    dict(type='CosineAnnealingLR', by_epoch=True, begin=0, T_max=max_epochs, end=max_epochs),
]
default_hooks = dict(
    _base_.fault_hooks,  # non-finite steps skipped, bad images named (downstream_backbones.py)
    logger=dict(interval=10),
    checkpoint=dict(interval=-1, save_last=True, max_keep_ckpts=1),
)
env_cfg = dict(dist_cfg=dict(backend='gloo'))
