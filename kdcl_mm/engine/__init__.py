from . import hooks  # noqa: F401
from .checkpoint_loading import allow_globals, load_local_checkpoint

__all__ = ['allow_globals', 'load_local_checkpoint']
