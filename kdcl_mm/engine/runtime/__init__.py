"""Runtime machinery that mmengine 0.10 lacks and long runs need; nothing here is KDCL.

See README.md in this folder for what each piece adds to mmengine and why.
"""

from .amp_check import amp_config_problem, check_amp_config, check_amp_in_config
from .atomic_file_backend import ATOMIC_BACKEND_ARGS, AtomicLocalBackend, atomic_write
from .bf16_optim_wrapper import BF16AutocastOptimWrapper
from .checkpoint_loading import allow_globals, load_local_checkpoint, register_checkpoint_loader
from .data_faults import DataFaultHook, SampleFetch, SampleLoadError
from .divergence_guard import DivergenceError, DivergenceGuardHook
from .emergency_checkpoint import EmergencyCheckpoint, PeerLoadError
from .preemption_hook import PreemptionHook
from .resumable_loop import ResumableEpochBasedTrainLoop
from .resumable_sampler import ResumableSampler, SeededIndex, sample_seed, seeded_generators
from .resume_schedule_hook import ResumeScheduleHook
from .rng_state_hook import RNGStateHook, capture_rng_state, restore_rng_state
from .schedule_check import check_param_schedulers, fit_param_schedulers

__all__ = [
    'ATOMIC_BACKEND_ARGS',
    'AtomicLocalBackend',
    'BF16AutocastOptimWrapper',
    'DataFaultHook',
    'DivergenceError',
    'DivergenceGuardHook',
    'EmergencyCheckpoint',
    'PeerLoadError',
    'PreemptionHook',
    'RNGStateHook',
    'ResumableEpochBasedTrainLoop',
    'ResumableSampler',
    'ResumeScheduleHook',
    'SampleFetch',
    'SampleLoadError',
    'SeededIndex',
    'allow_globals',
    'amp_config_problem',
    'atomic_write',
    'capture_rng_state',
    'check_amp_config',
    'check_amp_in_config',
    'check_param_schedulers',
    'fit_param_schedulers',
    'load_local_checkpoint',
    'register_checkpoint_loader',
    'restore_rng_state',
    'sample_seed',
    'seeded_generators',
]
