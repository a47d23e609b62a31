"""What the demo runs: the recipe's configs, the three modes and their budgets (docs/demo.md)."""

from dataclasses import dataclass, field
from typing import Dict, List, Optional, Tuple

# The recipe's configs, shared with the fault injection (tools/common/mnist_recipes.py).
from tools.common.mnist_recipes import (  # noqa: F401
    GENERATOR_CONFIG,
    KDCL_CONFIG,
    REPO,
    SOLO_CONFIGS,
    generator_configs,
)

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
# What a demo writes into its out-dir besides its report (--overwrite deletes exactly these and
# report_files()).
MANIFEST = 'manifest.json'  # what ran and where its files are (tools/demo/report_build.py)
OUTPUTS = ('runs', 'students', MANIFEST)
# The demo report's files and the recipe search's; a figure's file is figure_file(its key).
REPORT_FILES = ('report.json', 'report.md')
VAL_TABLE_FILES = ('val_table.json', 'val_table.md')
GENERAL_WEIGHTS = 'general_weights'  # the demo's figure of General's weights per epoch
GENERAL_WEIGHTING = 'general_weighting'  # the search's: General's weightings side by side
DOWNSTREAM_DIFFERENCES = 'downstream_differences'  # the demo's: KDCL - solo per seed, per task
ENSEMBLE = 'ensemble'  # KDCLAccuracy's name for the students' mean prediction
SOLO_KEY = 'accuracy/top1'  # what a student trained alone logs (mmpretrain's Accuracy)


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
    downstream_seeds: Optional[int]  # how many of the seeds go downstream (None: all)
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
    # `make demo`: within 30 minutes on 2 cores (measured: docs/demo.md, Runtime).
    'default': Mode(
        seeds=[0, 1, 2],
        ablation_seeds=2,
        downstream_seeds=1,
        downstream_students=('resnet18',),
        budget=Budget(),
        summary='seeds 0 1 2, ablation on 2 seeds, ResNet-18 downstream on 1 seed (within 30 '
        'min; docs/demo.md)',
    ),
    # The evidence (docs/demo.md, full mode): enough seeds for the intervals to tell, in
    # pretraining and downstream alike (t(0.975, 1) = 12.7 left 2 downstream seeds mute).
    'full': Mode(
        seeds=[0, 1, 2, 3, 4],
        ablation_seeds=None,
        downstream_seeds=None,
        downstream_students=tuple(DOWNSTREAM_CONFIGS),
        budget=Budget(),
        summary='seeds 0-4, the ablation and both students downstream on all of them (time: '
        'docs/demo.md)',
    ),
}


def generator_name(soft_target_type: str) -> str:
    """The short name of a soft-target type: ``'LinearSoftTarget'`` -> ``'Linear'``."""
    from kdcl_mm.models.soft_targets import GENERATORS

    names = {t: name for name, t in GENERATORS.items()}
    return names[soft_target_type.split('.')[-1]]


def top1_key(name: str) -> str:
    """KDCLAccuracy's key of one student's (or the ensemble's) top-1."""
    return f'{name}/top1'


def default_weighting() -> str:
    """GeneralSoftTarget's default weighting, which the plain name 'General' trains."""
    import inspect

    from kdcl_mm.models.soft_targets import GeneralSoftTarget

    return inspect.signature(GeneralSoftTarget).parameters['weighting'].default


def figure_file(key: str) -> str:
    """A report figure's PNG: ``'val_curves/resnet18'`` -> ``'val_curves_resnet18.png'``."""
    return key.replace('/', '_') + '.png'


def report_files(students: List[str]) -> List[str]:
    """Every file the demo's report may write for these students, relative to its out-dir."""
    figures = [GENERAL_WEIGHTS, DOWNSTREAM_DIFFERENCES, *(f'val_curves/{s}' for s in students)]
    return [*REPORT_FILES, *map(figure_file, figures)]
