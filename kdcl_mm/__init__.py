"""kdcl_mm: online knowledge distillation via collaborative learning for OpenMMLab.

Importing the package only registers modules: kdcl_mm's models, KDCL hooks, metric and datasets
go into the ``kdcl_mm`` registry scope (:mod:`kdcl_mm.registry`, children of mmpretrain's), the
runtime machinery into mmengine's root registries, mmengine learns the ``kdcl_mm::`` config
scope, and local checkpoints load under torch >= 2.6
(:mod:`kdcl_mm.engine.runtime.checkpoint_loading`).
It needs neither mmcv's compiled ops nor mmdet/mmseg: KDCL pretraining runs on mmcv-lite.
Detection and segmentation configs import :mod:`kdcl_mm.downstream`, which checks the ops.
"""

import _kdcl_mm_scope

from .utils.stack_check import require_supported_stack
from .version import __version__

require_supported_stack()
_kdcl_mm_scope.install()

from .engine.runtime.checkpoint_loading import register_checkpoint_loader  # noqa: E402

register_checkpoint_loader()

from . import datasets, engine, evaluation, models  # noqa: E402,F401

__all__ = ['__version__']
