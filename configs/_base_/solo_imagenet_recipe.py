# Everything but the model of the "trained alone" ImageNet arm: the KDCL recipe's data (one view
# of the same distortion), schedule and runtime, so only the students differ between the arms.
_base_ = [
    './datasets/imagenet_bs32_solo.py',
    './schedules/imagenet_bs256.py',
    './default_runtime.py',
]
default_hooks = dict(
    checkpoint=dict(
        type='CheckpointHook',
        interval=1,
        max_keep_ckpts=3,
        save_best='accuracy/top1',
        rule='greater',
    )
)
auto_scale_lr = dict(base_batch_size=256)
