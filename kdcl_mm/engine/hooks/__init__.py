from .general_weights_hook import GeneralWeightsHook  # noqa: F401
from .kd_warmup_hook import KDWarmupHook  # noqa: F401
from .export_students_hook import ExportStudentsHook  # noqa: F401
from .channels_last_hook import ChannelsLastHook  # noqa: F401
