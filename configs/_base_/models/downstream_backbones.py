# KDCL (or solo) students as mmdet / mmseg backbones. Each is the student's own mmpretrain
# class, so that the exported checkpoint's keys match exactly, loaded with StrictPretrained
# (any missing or unexpected key fails instead of mmengine's warning). A downstream config
# lists this file in `_base_` beside the mmdet/mmseg recipe, sets `pretrained`, and writes:
#   model = dict(backbone=dict(_base_.resnet50_for_mmdet,
#                              init_cfg=dict(_base_.student_init, checkpoint=pretrained)))
# `pretrained` is an exported student (keys backbone.*) or a solo ImageClassifier checkpoint.
student_init = dict(type='StrictPretrained', prefix='backbone.')

# mmdet's R50 recipes already describe a ResNet-50 (frozen stem, BN in eval): only the class
# changes. zero_init_residual: mmpretrain skips it only for type='Pretrained'.
resnet50_for_mmdet = dict(type='mmpretrain.ResNet', zero_init_residual=False)
# mmseg's recipes describe ResNetV1c (deep stem), whose keys differ: the whole backbone goes.
resnet50_for_mmseg = dict(
    _delete_=True,
    type='mmpretrain.ResNet',
    depth=50,
    num_stages=4,
    out_indices=(0, 1, 2, 3),
    norm_cfg=dict(type='SyncBN', requires_grad=True),
    norm_eval=False,
    style='pytorch',
    zero_init_residual=False,
)
# MobileNetV2 at strides 4, 8, 16, 32 (ResNet's four stages), for an FPN neck.
mobilenet_v2 = dict(
    _delete_=True, type='mmpretrain.MobileNetV2', widen_factor=1.0, out_indices=(1, 2, 4, 7)
)
mobilenet_v2_fpn_in_channels = [24, 32, 96, 1280]
# As mmdet's R50 recipes treat ResNet: stem frozen, BN statistics kept from pretraining.
mobilenet_v2_for_mmdet = dict(
    mobilenet_v2, frozen_stages=1, norm_eval=True, norm_cfg=dict(type='BN', requires_grad=True)
)

# The fault handling of kdcl_mm's runtime (configs/_base_/exact_resume.py) for mmdet's and
# mmseg's: a non-finite step updates nothing (one model, no students) and a diverged run stops,
# naming the checkpoint when the loaded backbone is at fault; a bad image names its index and
# file. A downstream
# config merges it into its default_hooks (mmengine refuses the key here: the mmdet/mmseg base
# beside this file defines default_hooks too). Both are in mmengine's root registry, which
# every scope's lookup ends in.
fault_hooks = dict(
    divergence_guard=dict(type='DivergenceGuardHook', max_consecutive_skips=20),
    data_faults=dict(type='DataFaultHook', skip_bad_samples=False),
)
