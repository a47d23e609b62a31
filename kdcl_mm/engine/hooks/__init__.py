"""The KDCL hooks. Generic runtime hooks (RNG state, preemption, schedules) are in
:mod:`kdcl_mm.engine.runtime`."""

from .channels_last_hook import ChannelsLastHook
from .export_students_hook import ExportStudentsHook
from .general_weights_hook import GeneralWeightsHook
from .kd_warmup_hook import KDWarmupHook

__all__ = ['ChannelsLastHook', 'ExportStudentsHook', 'GeneralWeightsHook', 'KDWarmupHook']
