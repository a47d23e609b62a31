"""Refuse mixed-precision configs that cannot run on this machine, before training starts.

mmengine 0.10's ``AmpOptimWrapper`` asserts in its constructor that CUDA (or NPU, MLU,
MUSA) is available: on a CPU-only machine it stops with a bare ``AssertionError``
("``AmpOptimizerWrapper`` is only available training on gpu, npu, mlu or musa") whatever
its ``dtype``, so not even bf16 runs through it. It also builds a ``torch.cuda.amp``
GradScaler for the dynamic loss scale. mmengine's ``autocast`` itself supports CPU, but only
with bfloat16 (it asserts that dtype there). On CPU, bf16 autocast is therefore reached
without ``AmpOptimWrapper``: wrap the forward in ``torch.autocast('cpu', dtype=torch.bfloat16)``
(bf16 has fp32's exponent range, so no loss scaling is needed), which is what
``BF16AutocastOptimWrapper`` (kdcl_mm/engine/runtime/bf16_optim_wrapper.py) does.
"""

from typing import Optional

import torch

#: Wrappers that build a CUDA GradScaler / assert CUDA in mmengine 0.10.
_CUDA_ONLY_WRAPPERS = ('AmpOptimWrapper',)


def amp_config_problem(optim_wrapper_cfg, cuda_available: bool) -> Optional[str]:
    """Why ``optim_wrapper_cfg`` cannot train on this machine, or None if it can.

    Args:
        optim_wrapper_cfg: the config's ``optim_wrapper`` (a dict or mmengine ConfigDict).
        cuda_available: ``torch.cuda.is_available()`` (a parameter, so tests need no GPU).
    """
    if not optim_wrapper_cfg or cuda_available:
        return None
    wrapper = optim_wrapper_cfg.get('type', 'OptimWrapper')
    name = wrapper if isinstance(wrapper, str) else getattr(wrapper, '__name__', str(wrapper))
    if name not in _CUDA_ONLY_WRAPPERS:
        return None
    dtype = optim_wrapper_cfg.get('dtype')
    dtype = str(dtype).replace('torch.', '') if dtype is not None else 'float16'
    return (
        f'optim_wrapper.type={name} (--amp) needs CUDA, and this machine has none '
        f"(optim_wrapper.dtype={dtype}). fp16 AMP needs CUDA; mmengine's AmpOptimWrapper "
        'refuses CPUs for any dtype. On CPU, bf16 autocast is available instead: drop --amp '
        'and pass --cfg-options optim_wrapper.type=BF16AutocastOptimWrapper; or drop '
        '--amp to train in fp32.'
    )


def check_amp_config(optim_wrapper_cfg, cuda_available: Optional[bool] = None) -> None:
    """Raise ValueError with :func:`amp_config_problem`'s message if there is one."""
    if cuda_available is None:
        cuda_available = torch.cuda.is_available()
    problem = amp_config_problem(optim_wrapper_cfg, cuda_available)
    if problem:
        raise ValueError(problem)


def check_amp_in_config(cfg) -> None:
    """A :data:`~kdcl_mm.engine.config_checks.CONFIG_CHECKS` entry: the config's
    ``optim_wrapper`` on this machine."""
    check_amp_config(cfg.get('optim_wrapper'))
