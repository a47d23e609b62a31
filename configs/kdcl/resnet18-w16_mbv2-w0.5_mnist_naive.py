# Generator ablation of the embedded MNIST recipe (docs/demo.md): Naive soft target, per sample the
# logits of the student with the lowest cross-entropy.
# Everything else, the temperature included, is the main recipe's.
_base_ = './resnet18-w16_mbv2-w0.5_mnist.py'
model = dict(soft_target=dict(_delete_=True, type='NaiveSoftTarget'))
