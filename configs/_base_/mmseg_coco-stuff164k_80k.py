# What kdcl_mm's COCO-Stuff164k segmentors share: mmseg's dataset (171 classes), runtime and 80k
# schedule (4 GPUs x 4 images), 512x512 crops, SyncBN. Each segmentor adds mmseg's model base.
_base_ = [
    'mmseg::_base_/datasets/coco-stuff164k.py',
    'mmseg::_base_/default_runtime.py',
    'mmseg::_base_/schedules/schedule_80k.py',
    './models/downstream_backbones.py',
]
custom_imports = dict(
    imports=['mmpretrain.models', 'kdcl_mm.downstream'], allow_failed_imports=False
)
crop_size = (512, 512)
num_classes = 171
# Non-finite steps skipped, a diverged run stopped, bad images named (downstream_backbones.py).
default_hooks = _base_.fault_hooks
