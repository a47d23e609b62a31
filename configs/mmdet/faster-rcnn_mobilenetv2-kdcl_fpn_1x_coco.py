# Faster R-CNN with FPN on the KDCL-trained MobileNetV2 student, COCO 2017, 1x schedule: the
# R50-FPN recipe with the backbone swapped (see README.md).
_base_ = 'mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py'
custom_imports = dict(imports=['mmpretrain.models', 'kdcl_mm'], allow_failed_imports=False)

pretrained = 'work_dirs/r50_mbv2_imagenet/students/mobilenet_v2.pth'
model = dict(
    backbone=dict(
        _delete_=True,
        type='mmpretrain.MobileNetV2',  # the student's own class, so the checkpoint keys match
        widen_factor=1.0,
        out_indices=(1, 2, 4, 7),  # strides 4, 8, 16, 32, as ResNet's four stages
        frozen_stages=1,
        norm_cfg=dict(type='BN', requires_grad=True),
        norm_eval=True,
        init_cfg=dict(type='StrictPretrained', checkpoint=pretrained, prefix='backbone.')),
    neck=dict(in_channels=[24, 32, 96, 1280]))
