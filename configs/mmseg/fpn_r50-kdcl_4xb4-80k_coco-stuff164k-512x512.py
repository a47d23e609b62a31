# Semantic FPN R50, COCO-Stuff164k (171 classes), 4 GPUs x 4 images, 80k iterations, with the
# KDCL-trained ResNet-50 student as the backbone (see README.md).
_base_ = ['mmseg::_base_/models/fpn_r50.py', '../_base_/mmseg_coco-stuff164k_80k.py']

# The student exported by ExportStudentsHook / tools/export_students.py. mmengine substitutes
# this variable when the file is parsed: to change the checkpoint, override
# model.backbone.init_cfg.checkpoint (see README.md).
pretrained = 'work_dirs/r50_mbv2_imagenet/students/resnet50.pth'
model = dict(
    data_preprocessor=dict(size=_base_.crop_size),
    pretrained=None,
    # A plain ResNet-50, not mmseg's deep-stem ResNetV1c (see downstream_backbones.py).
    backbone=dict(
        _base_.resnet50_for_mmseg, init_cfg=dict(_base_.student_init, checkpoint=pretrained)
    ),
    decode_head=dict(num_classes=_base_.num_classes),
)
