# DeepLabV3+ R50-D8, COCO-Stuff164k (171 classes), 4 GPUs x 4 images, 80k iterations, with the
# KDCL-trained ResNet-50 student as the backbone (see README.md).
_base_ = [
    'mmseg::_base_/models/deeplabv3plus_r50-d8.py', 'mmseg::_base_/datasets/coco-stuff164k.py',
    'mmseg::_base_/default_runtime.py', 'mmseg::_base_/schedules/schedule_80k.py'
]
custom_imports = dict(imports=['mmpretrain.models', 'kdcl_mm'], allow_failed_imports=False)

pretrained = 'work_dirs/r50_mbv2_imagenet/students/resnet50.pth'
crop_size = (512, 512)
norm_cfg = dict(type='SyncBN', requires_grad=True)
model = dict(
    data_preprocessor=dict(size=crop_size),
    pretrained=None,
    # The student is a plain ResNet-50 (not mmseg's ResNetV1c), built by its own class so that
    # the checkpoint keys match. Output stride 8 as in mmseg's D8 recipe; mmpretrain's ResNet
    # has no contract_dilation, so every block of a dilated stage uses the full dilation.
    backbone=dict(
        _delete_=True,
        type='mmpretrain.ResNet',
        depth=50,
        num_stages=4,
        out_indices=(0, 1, 2, 3),
        strides=(1, 2, 1, 1),
        dilations=(1, 1, 2, 4),
        norm_cfg=norm_cfg,
        norm_eval=False,
        style='pytorch',
        zero_init_residual=False,  # mmpretrain skips it only for type='Pretrained'
        init_cfg=dict(type='StrictPretrained', checkpoint=pretrained, prefix='backbone.')),
    decode_head=dict(num_classes=171),
    auxiliary_head=dict(num_classes=171))
