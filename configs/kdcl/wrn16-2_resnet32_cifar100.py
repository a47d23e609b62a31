# KDCL, WRN-16-2 + ResNet-32 on CIFAR-100, MinLogit, 200 epochs (mmpretrain's CIFAR schedule).
# Reference (survey table quoting the paper): 75.50 / 74.30 top-1 vs 72.20 / 69.90 alone.
_base_ = [
    '../_base_/datasets/cifar100_bs128_kdcl.py',
    '../_base_/schedules/cifar10_bs128.py',
    '../_base_/default_runtime.py',
]


def cifar_student(backbone, channels, name):
    return dict(
        type='ImageClassifier',
        name=name,
        backbone=backbone,
        neck=dict(type='GlobalAveragePooling'),
        head=dict(
            type='LinearClsHead',
            num_classes=100,
            in_channels=channels,
            loss=dict(type='CrossEntropyLoss', loss_weight=1.0),
        ),
    )


model = dict(
    type='KDCL',
    students=[
        cifar_student(dict(type='WideResNet', depth=16, widen_factor=2), 128, 'wrn16_2'),
        cifar_student(dict(type='CifarResNet', depth=32), 64, 'resnet32'),
    ],
    soft_target=dict(type='MinLogitSoftTarget'),
    kd_loss=dict(type='SoftTargetKDLoss', temperature=2.0, loss_weight=1.0),
)
optim_wrapper = dict(optimizer=dict(weight_decay=5e-4))
default_hooks = dict(
    checkpoint=dict(
        type='CheckpointHook',
        interval=10,
        max_keep_ckpts=3,
        save_best='ensemble/top1',
        rule='greater',
    )
)
custom_hooks = [dict(type='ExportStudentsHook')]
