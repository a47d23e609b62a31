# Everything but the model of the "trained alone" arm of the embedded MNIST recipe.
_base_ = [
    './models/mnist_students.py',
    './datasets/mnist_digits_solo.py',
    './schedules/mnist_30e.py',
    './default_runtime.py',
]
default_hooks = dict(
    logger=dict(type='LoggerHook', interval=10),
    checkpoint=dict(
        type='CheckpointHook',
        interval=-1,
        max_keep_ckpts=1,
        save_last=True,
        save_best='accuracy/top1',
        rule='greater',
    ),
)
log_processor = dict(window_size=10)  # the LoggerHook interval: every iteration logged
env_cfg = dict(dist_cfg=dict(backend='gloo'))
randomness = dict(seed=0, deterministic=False)
