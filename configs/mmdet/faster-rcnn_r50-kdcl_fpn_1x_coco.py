# Faster R-CNN R50-FPN, COCO 2017, 1x schedule, with the KDCL-trained ResNet-50 student as
# the backbone. Paper (Guo et al., CVPR 2020): +0.9 mAP for a COCO FPN detector over the
# same detector with a ResNet-50 trained alone (the paper's number, not reproduced here).
_base_ = [
    'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py',
    '../_base_/models/downstream_backbones.py',
]
custom_imports = dict(
    imports=['mmpretrain.models', 'kdcl_mm.downstream'], allow_failed_imports=False
)

# The student exported by ExportStudentsHook / tools/export_students.py. mmengine substitutes
# this variable when the file is parsed: to change the checkpoint, override
# model.backbone.init_cfg.checkpoint (see README.md).
pretrained = 'work_dirs/r50_mbv2_imagenet/students/resnet50.pth'
model = dict(
    backbone=dict(
        _base_.resnet50_for_mmdet, init_cfg=dict(_base_.student_init, checkpoint=pretrained)
    )
)
# Non-finite steps skipped, a diverged run stopped, bad images named (downstream_backbones.py).
default_hooks = _base_.fault_hooks
