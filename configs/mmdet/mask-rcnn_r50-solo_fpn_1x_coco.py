# Baseline for mask-rcnn_r50-kdcl_fpn_1x_coco.py: the ResNet-50 trained alone.
_base_ = './mask-rcnn_r50-kdcl_fpn_1x_coco.py'
pretrained = 'work_dirs/resnet50_imagenet/epoch_100.pth'
model = dict(backbone=dict(init_cfg=dict(checkpoint=pretrained)))
