# ResNet-50 trained alone with the recipe of configs/kdcl/r50_*_imagenet.py (for the comparison).
_base_ = ['mmpretrain::_base_/models/resnet50.py', '../_base_/solo_imagenet_recipe.py']
