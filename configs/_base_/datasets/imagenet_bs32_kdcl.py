# ImageNet for KDCL: mmpretrain's imagenet_bs32 with one independently distorted view per
# student (random crop, flip and colour each), and per-student + ensemble accuracy.
# DeferredMultiView decodes once and crops per view in the loader; each view's flip and colour
# are drawn there and applied batched on the device by the data preprocessor (the loader's
# cost per view: docs/benchmark.md, "Lean mode and distortion on the device"). MultiView with
# the same transforms does it all on the CPU, with the same parameters under the same seeds.
_base_ = ['mmpretrain::_base_/datasets/imagenet_bs32.py']

# One student's distortion. No hue jitter: mmcv 2.1's adjust_hue overflows on numpy 2.
distortion = [
    dict(type='RandomResizedCrop', scale=224),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
    dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.4),
]
num_students = 2
train_pipeline = [
    dict(type='LoadImageFromFile'),
    dict(type='DeferredMultiView', num_views=num_students, transforms=[distortion]),
    dict(type='PackInputs', algorithm_keys=['view_distortion']),
]
# ResumableSampler: DefaultSampler + per-sample augmentation seeds and mid-epoch resume.
# _scope_: the dataset comes from an mmpretrain:: base, which scopes it to mmpretrain, whose
# registries do not see kdcl_mm's transforms (kdcl_mm/registry.py).
train_dataloader = dict(
    dataset=dict(_scope_='kdcl_mm', pipeline=train_pipeline),
    sampler=dict(type='ResumableSampler'),
)

# _delete_: mmpretrain's Accuracy, merged into, would keep that base's mmpretrain scope.
val_evaluator = dict(_delete_=True, type='KDCLAccuracy', topk=(1, 5))
test_evaluator = val_evaluator
