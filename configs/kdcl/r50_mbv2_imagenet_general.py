# Ablation: the General generator (Perrone-Cooper weights from a held-out split).
# 5% of the training set (fixed seed) is carved out, excluded from training, and used once per
# epoch by GeneralWeightsHook to re-estimate the weights.
_base_ = './r50_mbv2_imagenet.py'

heldout = dict(ratio=0.05, seed=0)
# The paper's rule (Perrone-Cooper closed form, weights may be negative); the class default,
# simplex-constrained weights, was chosen on the small MNIST held-out split (docs/demo.md).
model = dict(
    soft_target=dict(_delete_=True, type='GeneralSoftTarget', weighting='closed_form', reg=1e-3)
)
train_dataloader = dict(
    dataset=dict(
        _delete_=True,
        _scope_='kdcl_mm',  # as the dataset it wraps (../_base_/datasets/)
        type='HeldOutSplit',
        part='train',
        **heldout,
        dataset={{_base_.train_dataloader.dataset}},
    )
)
custom_hooks = [
    dict(type='ExportStudentsHook'),
    dict(
        type='GeneralWeightsHook',
        heldout_dataloader=dict(
            batch_size=64,
            num_workers=5,
            dataset=dict(
                type='HeldOutSplit',
                part='heldout',
                **heldout,
                dataset=dict(
                    type='ImageNet',
                    data_root='data/imagenet',
                    split='train',
                    pipeline={{_base_.test_pipeline}},
                ),
            ),
            # round_up=False: padding would count a held-out sample twice in C.
            sampler=dict(type='DefaultSampler', shuffle=False, round_up=False),
        ),
    ),
]
