# Everything but the model of the "trained alone" ImageNet arm: the KDCL recipe's data (one view
# of the same distortion), schedule and runtime, so only the students differ between the arms.
_base_ = [
    './datasets/imagenet_bs32_solo.py',
    'mmpretrain::_base_/schedules/imagenet_bs256.py',
    'mmpretrain::_base_/default_runtime.py',
]
custom_imports = dict(imports=['kdcl_mm'], allow_failed_imports=False)
default_hooks = dict(checkpoint=dict(type='CheckpointHook', interval=1, max_keep_ckpts=3,
                                     save_best='accuracy/top1', rule='greater'))
auto_scale_lr = dict(base_batch_size=256)
