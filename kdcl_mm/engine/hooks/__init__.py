from .channels_last_hook import ChannelsLastHook  # noqa: F401
from .export_students_hook import ExportStudentsHook  # noqa: F401
from .general_weights_hook import GeneralWeightsHook  # noqa: F401
from .kd_warmup_hook import KDWarmupHook  # noqa: F401
from .preemption_hook import PreemptionHook  # noqa: F401
from .resume_schedule_hook import ResumeScheduleHook  # noqa: F401
from .rng_state_hook import RNGStateHook  # noqa: F401

__all__ = [
    'ChannelsLastHook',
    'ExportStudentsHook',
    'GeneralWeightsHook',
    'KDWarmupHook',
    'PreemptionHook',
    'ResumeScheduleHook',
    'RNGStateHook',
]
