from . import amp_check, hooks  # noqa: F401 (config checks, hooks)
from .atomic_file_backend import ATOMIC_BACKEND_ARGS, AtomicLocalBackend, atomic_write
from .bf16_optim_wrapper import BF16AutocastOptimWrapper  # noqa: F401 (registers it)
from .checkpoint_loading import allow_globals, load_local_checkpoint
from .resumable_loop import ResumableEpochBasedTrainLoop
from .runner import CheckedRunner
from .schedule_check import check_param_schedulers, fit_param_schedulers

__all__ = [
    'ATOMIC_BACKEND_ARGS',
    'AtomicLocalBackend',
    'CheckedRunner',
    'ResumableEpochBasedTrainLoop',
    'allow_globals',
    'atomic_write',
    'check_param_schedulers',
    'fit_param_schedulers',
    'load_local_checkpoint',
]
