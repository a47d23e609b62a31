"""What the demo runs: the recipe's configs, the three modes and their budgets (docs/demo.md)."""

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

KDCL_CONFIG = 'configs/kdcl/resnet18-w16_mbv2-w0.5_mnist.py'
SOLO_CONFIGS = {
    'resnet18': 'configs/baselines/resnet18-w16_mnist.py',
    'mobilenet_v2': 'configs/baselines/mobilenet_v2-w0.5_mnist.py',
}
# One config per generator; the main recipe's generator reuses the main KDCL runs.
GENERATOR_CONFIGS = {
    'Naive': 'configs/kdcl/resnet18-w16_mbv2-w0.5_mnist_naive.py',
    'Linear': 'configs/kdcl/resnet18-w16_mbv2-w0.5_mnist_linear.py',
    'MinLogit': 'configs/kdcl/resnet18-w16_mbv2-w0.5_mnist_minlogit.py',
    'General': 'configs/kdcl/resnet18-w16_mbv2-w0.5_mnist_general.py',
    'Mean': 'configs/kdcl/resnet18-w16_mbv2-w0.5_mnist_mean.py',
}
# Student (the name it is exported under, tools/export_students.py) -> task -> config. Each
# backbone is the student's own mmpretrain class, loaded by StrictPretrained.
DOWNSTREAM_CONFIGS = {
    'resnet18': {
        'detection': 'configs/mmdet/faster-rcnn_r18-w16_fpn_mnist-coco.py',
        'segmentation': 'configs/mmseg/fpn_r18-w16_mnist-coco.py',
    },
    'mobilenet_v2': {
        'detection': 'configs/mmdet/faster-rcnn_mbv2-w0.5_fpn_mnist-coco.py',
        'segmentation': 'configs/mmseg/fpn_mbv2-w0.5_mnist-coco.py',
    },
}
DOWNSTREAM_TASKS = ('detection', 'segmentation')
# What a demo writes into its out-dir besides the report's files (--overwrite deletes exactly
# these and tools.demo.report_files.report_files).
OUTPUTS = ('runs', 'students', 'manifest.json')
CANVAS_SPLITS = ('train', 'val', 'test')


@dataclass
class Budget:
    """Extra ``--cfg-options`` of each kind of run (empty: the configs' own recipe)."""

    classification: List[str] = field(default_factory=list)
    detection: List[str] = field(default_factory=list)
    segmentation: List[str] = field(default_factory=list)


@dataclass
class Mode:
    """The defaults of one mode; each can be changed on the command line."""

    seeds: List[int]
    ablation_seeds: Optional[int]  # how many of the seeds run the ablation (None: all)
    downstream_seeds: int  # how many of the seeds go downstream
    downstream_students: Tuple[str, ...]
    budget: Budget
    summary: str


MODES: Dict[str, Mode] = {
    # A smoke test of the chain: every step runs, on budgets far too small to mean anything.
    'quick': Mode(
        seeds=[0],
        ablation_seeds=0,
        downstream_seeds=1,
        downstream_students=tuple(DOWNSTREAM_CONFIGS),
        budget=Budget(
            classification=['train_cfg.max_epochs=3'],  # the LR warm-up takes 2
            detection=[
                'train_cfg.max_epochs=1',
                'train_dataloader.dataset.indices=16',
                'test_dataloader.dataset.indices=16',
            ],
            segmentation=['train_cfg.max_iters=4', 'test_dataloader.dataset.indices=16'],
        ),
        summary='smoke test: 1 seed, 3 epochs, tiny downstream for both students, no ablation; '
        'numbers are not meaningful',
    ),
    # `make demo`: within 30 minutes on 2 cores (19.3 min measured, docs/demo.md).
    'default': Mode(
        seeds=[0, 1, 2],
        ablation_seeds=2,
        downstream_seeds=1,
        downstream_students=('resnet18',),
        budget=Budget(),
        summary='seeds 0 1 2, ablation on 2 seeds, ResNet-18 downstream on 1 seed (~20 min)',
    ),
    # The evidence (about an hour on 2 cores): enough seeds for the intervals to tell.
    'full': Mode(
        seeds=[0, 1, 2, 3, 4],
        ablation_seeds=None,
        downstream_seeds=2,
        downstream_students=tuple(DOWNSTREAM_CONFIGS),
        budget=Budget(),
        summary='seeds 0-4, ablation on all of them, both students downstream on 2 seeds (~1 hour)',
    ),
}
