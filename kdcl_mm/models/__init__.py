from . import backbones, classifiers, data_preprocessors, losses, soft_targets  # noqa: F401
from . import strict_pretrained  # noqa: F401
