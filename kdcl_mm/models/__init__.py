from . import (  # noqa: F401
    backbones,
    classifiers,
    data_preprocessors,
    losses,
    soft_targets,
    strict_pretrained,  # noqa: F401
)
