"""The model inside an mmengine wrapper, for code that runs with and without DDP."""

from mmengine.model import is_model_wrapper


def unwrap(model):
    """The model inside a DDP (or other mmengine) wrapper; the model itself otherwise."""
    return model.module if is_model_wrapper(model) else model
