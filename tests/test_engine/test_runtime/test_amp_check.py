"""--amp without CUDA is refused with a clear message; bf16 autocast on CPU through a wrapper."""

import pytest
import torch
from torch import nn

from kdcl_mm.engine.runtime.amp_check import amp_config_problem, check_amp_config

AMP = dict(type='AmpOptimWrapper', loss_scale='dynamic', optimizer=dict(type='SGD', lr=0.1))


def test_amp_without_cuda_names_the_problem_and_the_cpu_alternative():
    problem = amp_config_problem(AMP, cuda_available=False)
    assert 'fp16 AMP needs CUDA' in problem
    assert 'optim_wrapper.type=AmpOptimWrapper' in problem
    assert 'optim_wrapper.dtype=float16' in problem
    assert '--cfg-options optim_wrapper.type=BF16AutocastOptimWrapper' in problem
    with pytest.raises(ValueError, match='fp16 AMP needs CUDA'):
        check_amp_config(AMP, cuda_available=False)


def test_amp_bf16_without_cuda_is_refused_too():
    # mmengine's AmpOptimWrapper asserts CUDA for any dtype (see the next test).
    problem = amp_config_problem(dict(AMP, dtype='bfloat16'), cuda_available=False)
    assert 'optim_wrapper.dtype=bfloat16' in problem


@pytest.mark.parametrize(
    'cfg,cuda',
    [
        (AMP, True),
        (dict(type='OptimWrapper'), False),
        (dict(optimizer=dict(type='SGD')), False),
        (None, False),
        (dict(type='BF16AutocastOptimWrapper'), False),
    ],
)
def test_runnable_configs_pass(cfg, cuda):
    assert amp_config_problem(cfg, cuda_available=cuda) is None
    check_amp_config(cfg, cuda_available=cuda)


@pytest.mark.skipif(torch.cuda.is_available(), reason='checks mmengine on a machine without CUDA')
def test_mmengine_amp_optim_wrapper_refuses_cpu_whatever_the_dtype():
    from mmengine.optim import AmpOptimWrapper

    optimizer = torch.optim.SGD(nn.Linear(2, 2).parameters(), lr=0.1)
    with pytest.raises(AssertionError, match='only available training on gpu'):
        AmpOptimWrapper(optimizer=optimizer, dtype='bfloat16')


def test_bf16_wrapper_autocasts_the_forward_on_cpu():
    from mmengine.optim import build_optim_wrapper

    model = nn.Linear(4, 4)
    wrapper = build_optim_wrapper(
        model, dict(type='BF16AutocastOptimWrapper', optimizer=dict(type='SGD', lr=0.1))
    )
    x = torch.randn(2, 4)
    with wrapper.optim_context(model):
        assert model(x).dtype == torch.bfloat16
    assert model(x).dtype == torch.float32
