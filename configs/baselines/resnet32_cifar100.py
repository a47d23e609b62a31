# ResNet-32 (CIFAR, 6n+2) trained alone with the KDCL CIFAR-100 recipe.
_base_ = './wrn16-2_cifar100.py'
model = dict(backbone=dict(_delete_=True, type='CifarResNet', depth=32), head=dict(in_channels=64))
