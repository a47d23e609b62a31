# Generator ablation of the embedded MNIST recipe (docs/demo.md): Mean soft target, the plain mean
# of the logits (the DML/ensemble baseline, not one of the paper's four generators).
# Everything else, the temperature included, is the main recipe's.
_base_ = './resnet18-w16_mbv2-w0.5_mnist.py'
model = dict(soft_target=dict(_delete_=True, type='MeanSoftTarget'))
