# Baseline for faster-rcnn_r50-kdcl_fpn_1x_coco.py: the same recipe with the ResNet-50 trained
# alone (configs/baselines/resnet50_imagenet.py; its checkpoint holds backbone.* already).
_base_ = './faster-rcnn_r50-kdcl_fpn_1x_coco.py'
pretrained = 'work_dirs/resnet50_imagenet/epoch_100.pth'
model = dict(backbone=dict(init_cfg=dict(checkpoint=pretrained)))
