"""Shared by the exact-resume, preemption and schedule tests: a tiny MNIST recipe, and the
largest difference between two checkpoints' tensors."""

import torch
from mmengine.config import Config

MNIST = 'configs/kdcl/resnet18-w16_mbv2-w0.5_mnist.py'
MNIST_GENERAL = 'configs/kdcl/resnet18-w16_mbv2-w0.5_mnist_general.py'


def tiny_mnist(config=MNIST, size=32, num_labeled=40, batch_size=8, num_val=16):
    """The recipe with its MultiView distortion, at ``size`` px on ``num_labeled`` digits
    (5 iterations per epoch by default) and a 16-image validation set. Also sets the options
    tiny_options() returns, for in-process runs."""
    cfg = Config.fromfile(config)
    cfg.merge_from_dict(tiny_options(cfg, size, num_labeled, batch_size, num_val))
    return cfg


def tiny_options(cfg, size=32, num_labeled=40, batch_size=8, num_val=16) -> dict:
    """--cfg-options style overrides that shrink ``cfg`` (a loaded recipe)."""
    test_pipeline = [dict(type='Resize', scale=(size, size)), dict(type='PackInputs')]
    dataset = cfg.train_dataloader.dataset
    inner = (
        'train_dataloader.dataset.dataset'
        if dataset.type == 'HeldOutSplit'
        else 'train_dataloader.dataset'
    )
    view = [dict(t) for t in cfg.distortion]
    view[0].update(scale=(size, size))
    view[1].update(crop_size=size, padding=2)
    options = {
        f'{inner}.num_labeled': num_labeled,
        f'{inner}.pipeline': [
            dict(type='MultiView', num_views=2, transforms=[view]),
            dict(type='PackInputs'),
        ],
        'train_dataloader.batch_size': batch_size,
        'default_hooks.logger.interval': 1,
        'log_level': 'WARNING',
    }
    for loader in ('val_dataloader', 'test_dataloader'):
        options.update(
            {
                f'{loader}.dataset.pipeline': test_pipeline,
                f'{loader}.dataset.indices': num_val,
                f'{loader}.batch_size': num_val,
            }
        )
    hooks = [dict(h) for h in cfg.custom_hooks if h['type'] != 'ExportStudentsHook']
    for hook in hooks:
        if hook['type'] == 'GeneralWeightsHook':
            heldout = hook['heldout_dataloader']['dataset']['dataset']
            heldout.update(num_labeled=num_labeled, pipeline=test_pipeline)
    # The KD warm-up ramp must resume too: on for these runs (the recipes train without it).
    options['custom_hooks'] = hooks + [dict(type='KDWarmupHook', length=2)]
    return options


def state_tensors(checkpoint: dict) -> dict:
    """Every parameter and buffer (General's weights included) and every optimizer state
    tensor of a Runner checkpoint."""
    tensors = {f'model/{k}': v for k, v in checkpoint['state_dict'].items()}
    for index, state in checkpoint['optimizer']['state'].items():
        tensors.update(
            {f'optimizer/{index}/{k}': v for k, v in state.items() if torch.is_tensor(v)}
        )
    return tensors


def max_abs_difference(a: dict, b: dict) -> float:
    """max |a - b| over all state tensors of two checkpoints (which must hold the same keys)."""
    a, b = state_tensors(a), state_tensors(b)
    assert a.keys() == b.keys()
    return max(
        float((a[k].double() - b[k].double()).abs().max()) if a[k].numel() else 0.0 for k in a
    )
