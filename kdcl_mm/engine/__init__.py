from . import hooks  # noqa: F401 (registers the KDCL hooks)
from .config_checks import CONFIG_CHECKS, run_config_checks
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
    'ResumableEpochBasedTrainLoop',
    'allow_globals',
    'atomic_write',
    'check_param_schedulers',
    'fit_param_schedulers',
    'load_local_checkpoint',
    'run_config_checks',
]
