"""bf16 autocast without a loss scaler, for CPUs (where mmengine's AmpOptimWrapper refuses)."""

from contextlib import contextmanager

import torch
from mmengine.optim import OptimWrapper
from mmengine.registry import OPTIM_WRAPPERS
from torch import nn


@OPTIM_WRAPPERS.register_module()
class BF16AutocastOptimWrapper(OptimWrapper):
    """An OptimWrapper whose forward runs under ``torch.autocast(dtype=torch.bfloat16)``.

    mmengine 0.10's ``AmpOptimWrapper`` asserts CUDA in its constructor, so on a CPU it
    cannot even run bf16. bf16 has fp32's exponent range, so gradients do not underflow and
    no loss scaler is needed: this wrapper only adds the autocast region, on the device of
    the model's first parameter (CPU or CUDA). Use it with
    ``--cfg-options optim_wrapper.type=BF16AutocastOptimWrapper``. For fp16 use CUDA and
    ``AmpOptimWrapper`` (``--amp``), which scales the loss. Registered in mmengine's root
    registry, so mmpretrain, mmdet and mmseg configs all find it.
    """

    @contextmanager
    def optim_context(self, model: nn.Module):
        param = next(model.parameters(), None)
        device_type = param.device.type if param is not None else 'cpu'
        with (
            super().optim_context(model),
            torch.autocast(device_type=device_type, dtype=torch.bfloat16),
        ):
            yield
