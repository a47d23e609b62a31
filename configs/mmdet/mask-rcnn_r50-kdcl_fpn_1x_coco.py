# Mask R-CNN R50-FPN, COCO 2017, 1x schedule, with the KDCL-trained ResNet-50 student as the
# backbone (see faster-rcnn_r50-kdcl_fpn_1x_coco.py and README.md).
_base_ = [
    'mmdet::mask_rcnn/mask-rcnn_r50_fpn_1x_coco.py',
    '../_base_/models/downstream_backbones.py',
]
custom_imports = dict(
    imports=['mmpretrain.models', 'kdcl_mm.downstream'], allow_failed_imports=False
)

pretrained = 'work_dirs/r50_mbv2_imagenet/students/resnet50.pth'
model = dict(
    backbone=dict(
        _base_.resnet50_for_mmdet, init_cfg=dict(_base_.student_init, checkpoint=pretrained)
    )
)
# Non-finite steps skipped, a diverged run stopped, bad images named (downstream_backbones.py).
default_hooks = _base_.fault_hooks
