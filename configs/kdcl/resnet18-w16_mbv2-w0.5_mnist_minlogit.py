# Generator ablation of the embedded MNIST recipe (docs/demo.md): MinLogit soft target (the paper's
# default): shift each student's true-class logit to 0, take each wrong class's minimum.
# Everything else, the temperature included, is the main recipe's.
_base_ = './resnet18-w16_mbv2-w0.5_mnist.py'
model = dict(soft_target=dict(_delete_=True, type='MinLogitSoftTarget'))
