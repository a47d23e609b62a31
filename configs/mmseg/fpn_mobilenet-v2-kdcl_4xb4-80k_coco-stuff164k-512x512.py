# Semantic FPN on the KDCL-trained MobileNetV2 student, COCO-Stuff164k, 4 GPUs x 4 images, 80k
# iterations: the R50 recipe with the backbone swapped. (mmseg's MobileNetV2 recipes dilate
# the network, which mmpretrain's MobileNetV2, the student's class, cannot; FPN needs no
# dilation.)
_base_ = './fpn_r50-kdcl_4xb4-80k_coco-stuff164k-512x512.py'

pretrained = 'work_dirs/r50_mbv2_imagenet/students/mobilenet_v2.pth'
model = dict(
    backbone=dict(
        _base_.mobilenet_v2,
        norm_cfg=dict(type='SyncBN', requires_grad=True),
        norm_eval=False,
        init_cfg=dict(_base_.student_init, checkpoint=pretrained),
    ),
    neck=dict(in_channels=_base_.mobilenet_v2_fpn_in_channels),
)
