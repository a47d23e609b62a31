# The MNIST recipe's data for one student trained alone: the same distortion, one view.
_base_ = ['./mnist_digits_kdcl.py']
train_pipeline = [*_base_.distortion, dict(type='PackInputs')]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_evaluator = dict(_delete_=True, type='Accuracy', topk=(1,))
test_evaluator = val_evaluator
