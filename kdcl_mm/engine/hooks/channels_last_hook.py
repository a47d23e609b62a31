"""Train and evaluate in channels_last (NHWC) memory format."""

import torch
from mmengine.hooks import Hook

from kdcl_mm.registry import HOOKS


def to_channels_last(model: torch.nn.Module) -> torch.nn.Module:
    """Convert the 4-D parameters and buffers of ``model`` in place (same Parameter objects,
    so an optimiser built earlier keeps stepping them)."""
    return model.to(memory_format=torch.channels_last)


@HOOKS.register_module()
class ChannelsLastHook(Hook):
    """Convert the model to channels_last before training, validation and testing.

    Convolutions then run NHWC kernels, which GPUs with tensor cores prefer under AMP.
    Each phase converts because ``Runner.val()`` or ``Runner.test()`` may run without
    training. Under DDP the model is already wrapped when hooks run, so PyTorch may warn
    that gradient strides do not match its buckets; training stays correct.
    """

    priority = 'VERY_HIGH'  # before any other hook runs the model

    def before_train(self, runner) -> None:
        to_channels_last(runner.model)

    def before_val(self, runner) -> None:
        to_channels_last(runner.model)

    def before_test(self, runner) -> None:
        to_channels_last(runner.model)
