# Faster R-CNN with FPN on the KDCL-trained MobileNetV2 student, COCO 2017, 1x schedule: the
# R50-FPN recipe with the backbone swapped (see README.md).
_base_ = './faster-rcnn_r50-kdcl_fpn_1x_coco.py'

pretrained = 'work_dirs/r50_mbv2_imagenet/students/mobilenet_v2.pth'
model = dict(
    backbone=dict(
        _base_.mobilenet_v2_for_mmdet, init_cfg=dict(_base_.student_init, checkpoint=pretrained)
    ),
    neck=dict(in_channels=_base_.mobilenet_v2_fpn_in_channels),
)
