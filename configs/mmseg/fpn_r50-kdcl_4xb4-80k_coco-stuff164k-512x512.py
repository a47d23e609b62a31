# Semantic FPN R50, COCO-Stuff164k (171 classes), 4 GPUs x 4 images, 80k iterations, with the
# KDCL-trained ResNet-50 student as the backbone (see README.md).
_base_ = [
    'mmseg::_base_/models/fpn_r50.py', 'mmseg::_base_/datasets/coco-stuff164k.py',
    'mmseg::_base_/default_runtime.py', 'mmseg::_base_/schedules/schedule_80k.py'
]
custom_imports = dict(imports=['mmpretrain.models', 'kdcl_mm'], allow_failed_imports=False)

# The student exported by ExportStudentsHook / tools/export_students.py. mmengine substitutes
# this variable when the file is parsed: to change the checkpoint, override
# model.backbone.init_cfg.checkpoint (see README.md).
pretrained = 'work_dirs/r50_mbv2_imagenet/students/resnet50.pth'
crop_size = (512, 512)
norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    data_preprocessor=dict(size=crop_size),
    pretrained=None,
    # The student is a plain ResNet-50 (not mmseg's deep-stem ResNetV1c), built by its own class
    # so that the checkpoint keys match.
    backbone=dict(
        _delete_=True,
        type='mmpretrain.ResNet',
        depth=50,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        norm_cfg=norm_cfg,
        norm_eval=False,
        style='pytorch',
        zero_init_residual=False,  # mmpretrain skips it only for type='Pretrained'
        init_cfg=dict(type='StrictPretrained', checkpoint=pretrained, prefix='backbone.')),
    decode_head=dict(num_classes=171))
