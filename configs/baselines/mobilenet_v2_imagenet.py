# MobileNetV2 trained alone with the KDCL ImageNet recipe (weight decay 4e-5, as students.1 in
# KDCL).
_base_ = ['mmpretrain::_base_/models/mobilenet_v2_1x.py', '../_base_/solo_imagenet_recipe.py']
optim_wrapper = dict(optimizer=dict(weight_decay=4e-5))
