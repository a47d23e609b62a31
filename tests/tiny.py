"""Tiny models and small real-data settings that tests share (fixtures in conftest.py)."""

#: The smallest MNIST-COCO canvases that still hold several digits per canvas.
MNIST_COCO_SMALL = dict(
    num_train=6,
    num_val=3,
    num_test=3,
    canvas_size=64,
    scale=(12, 32),
    digits_per_canvas=(2, 4),
    progress=False,
)


def tiny_resnet(num_classes: int = 10, width: int = 8) -> dict:
    """A ResNet-18 classifier config with ``width`` stem and base channels (8: 0.2 M params)."""
    return dict(
        type='ImageClassifier',
        backbone=dict(type='ResNet', depth=18, stem_channels=width, base_channels=width),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=num_classes, in_channels=8 * width),
    )


def tiny_mobilenet_v2(num_classes: int = 10, widen_factor: float = 0.25) -> dict:
    return dict(
        type='ImageClassifier',
        backbone=dict(type='MobileNetV2', widen_factor=widen_factor),
        neck=dict(type='GlobalAveragePooling'),
        head=dict(type='LinearClsHead', num_classes=num_classes, in_channels=1280),
    )
