# ResNet-18 trained alone with the KDCL ImageNet recipe.
_base_ = ['mmpretrain::_base_/models/resnet18.py', '../_base_/solo_imagenet_recipe.py']
