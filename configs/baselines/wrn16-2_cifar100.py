# WRN-16-2 trained alone with the recipe of configs/kdcl/wrn16-2_resnet32_cifar100.py.
_base_ = [
    '../_base_/datasets/cifar100_bs128_solo.py',
    '../_base_/schedules/cifar10_bs128.py',
    '../_base_/default_runtime.py',
]
model = dict(
    type='ImageClassifier',
    backbone=dict(type='WideResNet', depth=16, widen_factor=2),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(
        type='LinearClsHead',
        num_classes=100,
        in_channels=128,
        loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
    ),
)
optim_wrapper = dict(optimizer=dict(weight_decay=5e-4))
default_hooks = dict(
    checkpoint=dict(
        type='CheckpointHook',
        interval=10,
        max_keep_ckpts=3,
        save_best='accuracy/top1',
        rule='greater',
    )
)
