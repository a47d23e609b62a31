"""tools/analysis_tools/benchmark/settings.py: bad settings are named; the presets of both modes."""

import os.path as osp
import re

import pytest

from kdcl_mm.models.soft_targets import GENERATORS
from tools.analysis_tools.benchmark.settings import BenchmarkSettings, preset_settings


@pytest.mark.parametrize(
    'field, value, error, match',
    [
        ('generators', ('Mean', 'Best'), ValueError, 'Best'),
        ('rounds', 0, ValueError, 'rounds'),
        ('heldout_ratio', 1.5, ValueError, 'heldout_ratio'),
        ('config', 'no/such/config.py', FileNotFoundError, 'no/such/config.py'),
    ],
)
def test_bad_settings_are_named(field, value, error, match):
    settings = preset_settings('small', quick=True, **{field: value})
    with pytest.raises(error, match=re.escape(match)):
        settings.check()


def test_amp_without_cuda_is_refused():
    import torch

    if torch.cuda.is_available():
        pytest.skip('this machine has CUDA')
    with pytest.raises(ValueError, match='need CUDA'):
        preset_settings('small', quick=True, amp='float16').check()


def test_settings_default_to_the_mnist_recipe():
    settings = preset_settings('small')
    assert isinstance(settings, BenchmarkSettings)
    assert osp.basename(settings.config) == 'resnet18-w16_mbv2-w0.5_mnist.py'
    assert osp.isfile(settings.config)


def test_generators_default_to_every_registered_one_in_its_order():
    assert preset_settings('small').generators == tuple(GENERATORS)


@pytest.mark.parametrize(
    'quick, expected',
    [
        (False, dict(device='cuda', batch_size=64, image_size=224, warmup_steps=10, rounds=5)),
        (True, dict(device='cpu', batch_size=4, image_size=32, warmup_steps=1, rounds=2)),
    ],
)
def test_the_gpu_check_is_a_preset_of_the_benchmark(quick, expected):
    settings = preset_settings('gpu_check', quick)
    assert settings.mode == 'gpu_check' and settings.generators == ('MinLogit',)
    assert {k: getattr(settings, k) for k in expected} == expected
    assert settings.precisions == ('fp32', 'fp16', 'bf16')
    assert settings.steps_per_round == (1 if quick else 4)


def test_the_gpu_check_measures_one_generator():
    settings = preset_settings('gpu_check', True, generators=('Mean', 'Linear'))
    with pytest.raises(ValueError, match=r"one generator \(got \['Mean', 'Linear'\]\)"):
        settings.check()
