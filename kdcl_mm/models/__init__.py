from . import backbones, classifiers, data_preprocessors, losses, soft_targets  # noqa: F401
