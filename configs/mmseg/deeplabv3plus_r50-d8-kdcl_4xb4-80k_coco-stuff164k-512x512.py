# DeepLabV3+ R50-D8, COCO-Stuff164k (171 classes), 4 GPUs x 4 images, 80k iterations, with the
# KDCL-trained ResNet-50 student as the backbone (see README.md).
_base_ = ['mmseg::_base_/models/deeplabv3plus_r50-d8.py', '../_base_/mmseg_coco-stuff164k_80k.py']

pretrained = 'work_dirs/r50_mbv2_imagenet/students/resnet50.pth'
model = dict(
    data_preprocessor=dict(size=_base_.crop_size),
    pretrained=None,
    # A plain ResNet-50 (see downstream_backbones.py) at output stride 8, as mmseg's D8 recipe;
    # mmpretrain's ResNet has no contract_dilation, so every block of a dilated stage uses the
    # full dilation.
    backbone=dict(
        _base_.resnet50_for_mmseg,
        strides=(1, 2, 1, 1),
        dilations=(1, 1, 2, 4),
        init_cfg=dict(_base_.student_init, checkpoint=pretrained),
    ),
    decode_head=dict(num_classes=_base_.num_classes),
    auxiliary_head=dict(num_classes=_base_.num_classes),
)
