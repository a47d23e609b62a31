# The two heterogeneous students of the embedded MNIST recipe: mmpretrain's own ResNet-18 and
# MobileNetV2, narrowed so that training takes minutes on 2 CPU cores.
student_resnet = dict(
    type='ImageClassifier',
    backbone=dict(type='ResNet', depth=18, stem_channels=16, base_channels=16),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=10, in_channels=128),
)
student_mbv2 = dict(
    type='ImageClassifier',
    backbone=dict(type='MobileNetV2', widen_factor=0.5),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=10, in_channels=1280),
)
