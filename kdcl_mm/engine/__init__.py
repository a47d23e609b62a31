from . import hooks  # noqa: F401
from .bf16_optim_wrapper import BF16AutocastOptimWrapper  # noqa: F401 (registers it)
from .checkpoint_loading import allow_globals, load_local_checkpoint

__all__ = ['allow_globals', 'load_local_checkpoint']
