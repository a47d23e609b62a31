# MobileNetV2 trained alone with the KDCL ImageNet recipe (weight decay 4e-5, as students.1 in KDCL).
_base_ = [
    'mmpretrain::_base_/models/mobilenet_v2_1x.py',
    '../_base_/datasets/imagenet_bs32_solo.py',
    'mmpretrain::_base_/schedules/imagenet_bs256.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['kdcl_mm'], allow_failed_imports=False)
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3,
                                     save_best='accuracy/top1', rule='greater'))
auto_scale_lr = dict(base_batch_size=256)
optim_wrapper = dict(optimizer=dict(weight_decay=4e-5))
