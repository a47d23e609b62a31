# Baseline for deeplabv3plus_r50-d8-kdcl_4xb4-80k_coco-stuff164k-512x512.py: the ResNet-50
# trained alone.
_base_ = './deeplabv3plus_r50-d8-kdcl_4xb4-80k_coco-stuff164k-512x512.py'
pretrained = 'work_dirs/resnet50_imagenet/epoch_100.pth'
model = dict(backbone=dict(init_cfg=dict(checkpoint=pretrained)))
