"""KDWarmupHook: the KD weight's linear ramp by (fractional) epochs or iterations."""

from types import SimpleNamespace

import pytest
import torch.nn as nn

from kdcl_mm.registry import HOOKS, MODELS


def runner_with(epoch=0, iteration=0, iters_per_epoch=10):
    model = nn.Module()
    model.kd_loss = MODELS.build(dict(type='SoftTargetKDLoss'))
    model.soft_target = MODELS.build(dict(type='MeanSoftTarget'))
    return SimpleNamespace(
        model=model, epoch=epoch, iter=iteration, train_dataloader=[None] * iters_per_epoch
    )


@pytest.mark.parametrize(
    'epoch, batch_idx, expected',
    [(0, 0, 0.0), (0, 5, 0.25), (1, 0, 0.5), (1, 5, 0.75), (2, 0, 1.0), (7, 3, 1.0)],
)
def test_warmup_by_epoch_is_linear_in_fractional_epochs(epoch, batch_idx, expected):
    runner = runner_with(epoch=epoch)
    HOOKS.build(dict(type='KDWarmupHook', length=2)).before_train_iter(runner, batch_idx)
    assert runner.model.kd_loss.ramp == pytest.approx(expected)


def test_warmup_by_iteration():
    runner = runner_with(iteration=30)
    HOOKS.build(dict(type='KDWarmupHook', length=120, by_epoch=False)).before_train_iter(runner, 0)
    assert runner.model.kd_loss.ramp == pytest.approx(0.25)


def test_warmup_length_must_be_positive():
    with pytest.raises(ValueError, match='KDWarmupHook.length'):
        HOOKS.build(dict(type='KDWarmupHook', length=0))
