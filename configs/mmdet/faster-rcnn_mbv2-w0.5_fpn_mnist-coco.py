# Faster R-CNN-FPN on MNIST-COCO with the narrow MobileNetV2 student of
# configs/kdcl/resnet18-w16_mbv2-w0.5_mnist.py as its backbone: the ResNet-18 config with the
# backbone swapped, so both students are checked downstream (docs/demo.md, `--full`).
#   python tools/train.py configs/mmdet/faster-rcnn_mbv2-w0.5_fpn_mnist-coco.py \
#       --cfg-options model.backbone.init_cfg.checkpoint=<out-dir>/mobilenet_v2.pth
# downstream_backbones.py comes through the ResNet-18 config.
_base_ = './faster-rcnn_r18-w16_fpn_mnist-coco.py'

# The exported KDCL student (tools/export_students.py names it after the student); a solo
# ImageClassifier checkpoint works too. Re-set here: the base's variable was substituted when
# the base was parsed.
pretrained = 'work_dirs/resnet18-w16_mbv2-w0.5_mnist/students/mobilenet_v2.pth'
model = dict(
    backbone=dict(
        _base_.mobilenet_v2,  # the student's own class: keys match exactly
        widen_factor=0.5,  # and its own argument
        # Fine-tune all of it, BN statistics included, as the ResNet-18 config does (why: there).
        frozen_stages=-1,
        norm_eval=False,
        init_cfg=dict(_base_.student_init, checkpoint=pretrained),
    ),
    # widen_factor 0.5: make_divisible(24/2, 8) = 16, 32/2 = 16, 96/2 = 48; the last 1x1 conv
    # keeps 1280 channels (mmpretrain widens it only for widen_factor > 1).
    neck=dict(in_channels=[16, 16, 48, 1280]),
)
