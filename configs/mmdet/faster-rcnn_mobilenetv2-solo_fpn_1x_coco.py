# Baseline for faster-rcnn_mobilenetv2-kdcl_fpn_1x_coco.py: the MobileNetV2 trained alone
# (configs/baselines/mobilenet_v2_imagenet.py).
_base_ = './faster-rcnn_mobilenetv2-kdcl_fpn_1x_coco.py'
pretrained = 'work_dirs/mobilenet_v2_imagenet/epoch_100.pth'
model = dict(backbone=dict(init_cfg=dict(checkpoint=pretrained)))
