# The narrow ResNet-18 of configs/kdcl/resnet18-w16_mbv2-w0.5_mnist.py trained alone, same recipe.
_base_ = ['../_base_/solo_mnist_recipe.py']
model = _base_.student_resnet
