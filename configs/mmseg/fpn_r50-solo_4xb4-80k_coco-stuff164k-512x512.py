# Baseline for fpn_r50-kdcl_4xb4-80k_coco-stuff164k-512x512.py: the same recipe with the
# ResNet-50 trained alone (configs/baselines/resnet50_imagenet.py).
_base_ = './fpn_r50-kdcl_4xb4-80k_coco-stuff164k-512x512.py'
pretrained = 'work_dirs/resnet50_imagenet/epoch_100.pth'
model = dict(backbone=dict(init_cfg=dict(checkpoint=pretrained)))
