# KDCL, ResNet-110 + ResNet-32 on CIFAR-100, MinLogit.
_base_ = './wrn16-2_resnet32_cifar100.py'
model = dict(
    students=[
        dict(
            type='ImageClassifier',
            name='resnet110',
            backbone=dict(type='CifarResNet', depth=110),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(type='LinearClsHead', num_classes=100, in_channels=64),
        ),
        dict(
            type='ImageClassifier',
            name='resnet32',
            backbone=dict(type='CifarResNet', depth=32),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(type='LinearClsHead', num_classes=100, in_channels=64),
        ),
    ]
)
