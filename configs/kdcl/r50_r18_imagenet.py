# KDCL, ResNet-50 + ResNet-18 on ImageNet-1k, MinLogit.
# Reference (second-hand report of the paper): 77.8 / 73.1 top-1 vs 76.8 / 71.2 alone.
_base_ = './r50_mbv2_imagenet.py'
model = dict(
    students=[
        dict(config='mmpretrain::resnet/resnet50_8xb32_in1k.py', name='resnet50'),
        dict(config='mmpretrain::resnet/resnet18_8xb32_in1k.py', name='resnet18'),
    ]
)
optim_wrapper = dict(paramwise_cfg=dict(_delete_=True))
