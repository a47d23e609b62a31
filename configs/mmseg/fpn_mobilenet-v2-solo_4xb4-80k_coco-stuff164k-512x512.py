# Baseline for fpn_mobilenet-v2-kdcl_4xb4-80k_coco-stuff164k-512x512.py: the MobileNetV2
# trained alone (configs/baselines/mobilenet_v2_imagenet.py).
_base_ = './fpn_mobilenet-v2-kdcl_4xb4-80k_coco-stuff164k-512x512.py'
pretrained = 'work_dirs/mobilenet_v2_imagenet/epoch_100.pth'
model = dict(backbone=dict(init_cfg=dict(checkpoint=pretrained)))
