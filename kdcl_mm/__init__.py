"""kdcl_mm: online knowledge distillation via collaborative learning for OpenMMLab.

Importing the package registers every kdcl_mm module in mmpretrain's (and mmengine's)
registries, teaches mmengine the ``kdcl_mm::`` config scope and makes local
checkpoints load under torch >= 2.6 (see :mod:`kdcl_mm.engine.checkpoint_loading`).
"""
import _kdcl_mm_scope

__version__ = '0.1.0'

_kdcl_mm_scope.install()

from .engine.checkpoint_loading import register_checkpoint_loader  # noqa: E402

register_checkpoint_loader()

from . import datasets, engine, evaluation, models  # noqa: E402,F401

__all__ = ['__version__']
