"""KDCL's lean mode through mmengine's Runner: with General's hook, Mixup, the KD warm-up ramp,
exact resume at an epoch boundary and a preemption mid-epoch, a lean run ends bit-identical
to the default mode's run."""

import os
import signal

import pytest
import torch
from mmengine.hooks import Hook
from mmengine.runner import Runner

from kdcl_mm.utils.wrappers import unwrap
from tests.resume_utils import MNIST_GENERAL, max_abs_difference, tiny_mnist

MIXUP = dict(augments=[dict(type='Mixup', alpha=0.4)])


class SignalAt(Hook):
    """Sends this process SIGUSR1 at the end of one iteration, before PreemptionHook (priority
    LOWEST) looks for a signal: the cluster's notice, arriving mid-epoch."""

    priority = 'HIGHEST'

    def __init__(self, iteration):
        self.iteration = iteration

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if runner.iter + 1 == self.iteration:
            os.kill(os.getpid(), signal.SIGUSR1)


def general_cfg(work_dir, lean, resume=False):
    """The General MNIST recipe, tiny: 3 iterations per epoch, 2 epochs, checkpoints every
    epoch, Mixup; General's weights estimated by GeneralWeightsHook before each epoch."""
    cfg = tiny_mnist(MNIST_GENERAL, num_labeled=27)  # 24 train digits after the 10% split
    cfg.merge_from_dict(
        dict(
            work_dir=str(work_dir),
            model=dict(lean=lean),
            data_preprocessor=dict(batch_augments=MIXUP),
            train_cfg=dict(max_epochs=2),
            default_hooks=dict(
                checkpoint=dict(
                    type='CheckpointHook', interval=1, save_best=None, max_keep_ckpts=-1
                )
            ),
        )
    )
    cfg.resume = resume
    return cfg


def train(cfg, *hooks):
    runner = Runner.from_cfg(cfg)
    for hook in hooks:
        runner.register_hook(hook)
    runner.train()
    return runner


def final_checkpoint(work_dir):
    return torch.load(work_dir / 'epoch_2.pth', weights_only=False)


@pytest.fixture(scope='module')
def lean_run(tmp_path_factory):
    """(work_dir, runner) of an uninterrupted lean run."""
    work_dir = tmp_path_factory.mktemp('lean')
    return work_dir, train(general_cfg(work_dir, lean=True))


@pytest.mark.slow
def test_lean_run_is_bit_identical_to_the_default_run(lean_run, tmp_path):
    work_dir, runner = lean_run
    model = unwrap(runner.model)
    assert model.lean
    assert bool(model.soft_target.estimated)  # the hook estimated General's weights
    assert not torch.equal(model.soft_target.weights, torch.full((2,), 0.5))
    train(general_cfg(tmp_path, lean=False))
    difference = max_abs_difference(final_checkpoint(tmp_path), final_checkpoint(work_dir))
    assert difference == 0, f'max |difference| = {difference}'


@pytest.mark.slow
def test_lean_run_resumed_at_an_epoch_boundary_is_bit_identical(lean_run, tmp_path):
    work_dir, _ = lean_run
    cfg = general_cfg(tmp_path, lean=True, resume=True)
    cfg.load_from = str(work_dir / 'epoch_1.pth')
    train(cfg)
    difference = max_abs_difference(final_checkpoint(work_dir), final_checkpoint(tmp_path))
    assert difference == 0, f'max |difference| = {difference}'


@pytest.mark.slow
def test_lean_run_preempted_mid_epoch_resumes_bit_identically(lean_run, tmp_path):
    work_dir, _ = lean_run
    train(general_cfg(tmp_path, lean=True), SignalAt(5))  # the second iteration of epoch 2
    assert (tmp_path / 'last_checkpoint').read_text() == str(tmp_path / 'iter_5.pth')
    assert not (tmp_path / 'epoch_2.pth').exists()
    train(general_cfg(tmp_path, lean=True, resume=True))  # continues from last_checkpoint
    difference = max_abs_difference(final_checkpoint(work_dir), final_checkpoint(tmp_path))
    assert difference == 0, f'max |difference| = {difference}'
