# The KDCL recipe's data for one student trained alone: the same distortion, one view.
_base_ = ['./imagenet_bs32_kdcl.py']
train_pipeline = [
    dict(type='LoadImageFromFile'),
    *_base_.distortion,
    dict(type='PackInputs'),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_evaluator = dict(_delete_=True, type='Accuracy', topk=(1, 5))
test_evaluator = val_evaluator
