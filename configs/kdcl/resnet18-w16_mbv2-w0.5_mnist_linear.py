# Generator ablation of the embedded MNIST recipe (docs/demo.md): Linear soft target, the simplex
# combination of the students' logits with the lowest cross-entropy on the batch.
# Everything else, the temperature included, is the main recipe's.
_base_ = './resnet18-w16_mbv2-w0.5_mnist.py'
model = dict(soft_target=dict(_delete_=True, type='LinearSoftTarget'))
