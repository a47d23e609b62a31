# CIFAR-100 for KDCL: mmpretrain's cifar100 settings, batch 128 on one GPU, one independently
# distorted view (padded random crop + flip) per student.
_base_ = ['mmpretrain::_base_/datasets/cifar100_bs16.py']

distortion = [
    dict(type='RandomCrop', crop_size=32, padding=4),
    dict(type='RandomFlip', prob=0.5, direction='horizontal'),
]
train_pipeline = [
    dict(type='MultiView', num_views=2, transforms=[distortion]),
    dict(type='PackInputs'),
]
# ResumableSampler: DefaultSampler + per-sample augmentation seeds and mid-epoch resume.
# _scope_: the dataset comes from an mmpretrain:: base, which scopes it to mmpretrain, whose
# registries do not see kdcl_mm's transforms (kdcl_mm/registry.py).
train_dataloader = dict(
    batch_size=128,
    dataset=dict(_scope_='kdcl_mm', pipeline=train_pipeline),
    sampler=dict(type='ResumableSampler'),
)
val_dataloader = dict(batch_size=256)
test_dataloader = val_dataloader
# _delete_: mmpretrain's Accuracy, merged into, would keep that base's mmpretrain scope.
val_evaluator = dict(_delete_=True, type='KDCLAccuracy', topk=(1, 5))
test_evaluator = val_evaluator
