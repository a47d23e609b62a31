# Three students: ResNet-50 + ResNet-18 + MobileNetV2, three independently distorted views.
_base_ = './r50_mbv2_imagenet.py'
model = dict(
    students=[
        dict(config='mmpretrain::resnet/resnet50_8xb32_in1k.py', name='resnet50'),
        dict(config='mmpretrain::resnet/resnet18_8xb32_in1k.py', name='resnet18'),
        dict(config='mmpretrain::mobilenet_v2/mobilenet-v2_8xb32_in1k.py', name='mobilenet_v2'),
    ]
)
optim_wrapper = dict(
    paramwise_cfg=dict(_delete_=True, custom_keys={'students.2.': dict(decay_mult=0.4)})
)
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='DeferredMultiView', num_views=3, transforms=[{{_base_.distortion}}]),
    dict(type='PackInputs', algorithm_keys=['view_distortion']),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
