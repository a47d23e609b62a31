from . import hooks  # noqa: F401 (registers the KDCL hooks)
from .config_checks import CONFIG_CHECKS, run_config_checks
from .optimizers import MergedGroupsOptimWrapperConstructor
from .runner import CheckedRunner
from .runtime import (
    ATOMIC_BACKEND_ARGS,
    AtomicLocalBackend,
    ResumableEpochBasedTrainLoop,
    allow_globals,
    atomic_write,
    check_param_schedulers,
    fit_param_schedulers,
    load_local_checkpoint,
)

__all__ = [
    'ATOMIC_BACKEND_ARGS',
    'AtomicLocalBackend',
    'CONFIG_CHECKS',
    'CheckedRunner',
    'MergedGroupsOptimWrapperConstructor',
    'ResumableEpochBasedTrainLoop',
    'allow_globals',
    'atomic_write',
    'check_param_schedulers',
    'fit_param_schedulers',
    'load_local_checkpoint',
    'run_config_checks',
]
