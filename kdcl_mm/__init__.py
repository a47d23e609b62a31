"""kdcl_mm: online knowledge distillation via collaborative learning for OpenMMLab.

Importing the package registers every kdcl_mm module in mmpretrain's (and mmengine's)
registries, teaches mmengine the ``kdcl_mm::`` config scope and makes local
checkpoints load under torch >= 2.6 (see :mod:`kdcl_mm.engine.checkpoint_loading`).
"""
import _kdcl_mm_scope

__version__ = '0.1.0'


def _require_compiled_mmcv() -> None:
    # Without it, mmdet/mmseg (imported below) fail deep inside with an unhelpful ImportError.
    try:
        import mmcv._ext  # noqa: F401
    except ImportError as err:
        raise ImportError(
            f'mmcv is installed without its compiled ops (mmcv._ext: {err}). kdcl_mm needs '
            'mmcv 2.1.0 built against your torch. Fix: pip uninstall -y mmcv && '
            'bash tools/install.sh (it builds mmcv with --no-build-isolation and checks _ext).'
        ) from err


_require_compiled_mmcv()

_kdcl_mm_scope.install()

from .engine.checkpoint_loading import register_checkpoint_loader  # noqa: E402

register_checkpoint_loader()

from . import datasets, engine, evaluation, models  # noqa: E402,F401

__all__ = ['__version__']
