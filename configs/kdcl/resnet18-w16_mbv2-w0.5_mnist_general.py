# Generator ablation of the embedded MNIST recipe (docs/demo.md): General soft target, ensemble
# weights re-estimated every epoch on a held-out split (simplex-constrained, the default chosen
# on val over the paper's closed form, which swings with 30 held-out digits). The split is carved
# from the labelled training digits (10% of 300 = 30, fixed seed) and excluded from training,
# so General trains on 270 labels: labels beyond num_labeled would be extra supervision, and
# the val split is reserved for choosing the recipe.
_base_ = './resnet18-w16_mbv2-w0.5_mnist.py'

heldout = dict(ratio=0.1, seed=0)
model = dict(soft_target=dict(_delete_=True, type='GeneralSoftTarget', reg=1e-3))
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
    *_base_.custom_hooks,
    dict(
        type='GeneralWeightsHook',
        heldout_dataloader=dict(
            batch_size=64,
            num_workers=0,
            dataset=dict(
                type='HeldOutSplit',
                part='heldout',
                **heldout,
                dataset=dict(_base_.train_dataloader.dataset, pipeline=_base_.test_pipeline),
            ),
            sampler=dict(type='DefaultSampler', shuffle=False),
        ),
    ),
]
