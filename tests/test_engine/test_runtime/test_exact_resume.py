"""Exact resume: a run resumed at an epoch boundary ends bit-identical to an uninterrupted one."""

import random

import numpy as np
import pytest
import torch
from mmengine.runner import Runner
from torch.utils.data import DataLoader, Dataset

from kdcl_mm.engine.runtime.resumable_sampler import ResumableSampler, sample_seed
from kdcl_mm.engine.runtime.rng_state_hook import RNGStateHook, capture_rng_state, restore_rng_state
from kdcl_mm.utils.wrappers import unwrap
from tests.resume_utils import MNIST, MNIST_GENERAL, max_abs_difference, tiny_mnist


def draws():
    return (
        random.random(),
        float(np.random.rand()),
        float(torch.rand(1)),
        float(np.random.normal()),
    )


def test_rng_state_round_trip_through_a_weights_only_checkpoint(tmp_path):
    np.random.normal()  # leaves a cached Gaussian in numpy's state
    state = capture_rng_state()
    expected = draws()
    torch.save(state, tmp_path / 'state.pth')
    restore_rng_state(torch.load(tmp_path / 'state.pth', weights_only=True))
    assert draws() == expected


class RandomItems(Dataset):
    """Each item is a draw from the global generators, as an augmentation pipeline's are."""

    def __len__(self):
        return 12

    def __getitem__(self, index):
        return torch.tensor([index, random.random(), np.random.rand(), torch.rand(())])


def load_epoch(num_workers, epoch=1, skip=0, seed=7):
    sampler = ResumableSampler(RandomItems(), shuffle=True, seed=seed)
    sampler.set_epoch(epoch)
    sampler.skip_next(skip)
    loader = DataLoader(sampler.dataset, batch_size=4, sampler=sampler, num_workers=num_workers)
    return torch.cat(list(loader))


def test_sampler_order_is_default_samplers_and_skip_drops_the_first_samples():
    from mmengine.dataset import DefaultSampler

    reference = DefaultSampler(RandomItems(), shuffle=True, seed=7)
    reference.set_epoch(1)
    items = load_epoch(num_workers=0)
    assert items[:, 0].long().tolist() == list(reference)
    assert torch.equal(load_epoch(num_workers=0, skip=8), items[8:])


def test_sample_draws_follow_seed_epoch_and_index_not_workers_and_leave_caller_state():
    python_state, numpy_state = random.getstate(), np.random.get_state()
    in_main = load_epoch(num_workers=0)
    # The samples' draws left the caller's generators alone (torch's is advanced once by the
    # DataLoader itself, for its workers' base seed).
    assert random.getstate() == python_state
    assert all(np.array_equal(a, b) for a, b in zip(np.random.get_state(), numpy_state))
    assert torch.equal(load_epoch(num_workers=2), in_main)
    assert not torch.equal(load_epoch(num_workers=0, epoch=2)[:, 1:], in_main[:, 1:])
    assert sample_seed(7, 1, 0, 3) != sample_seed(7, 1, 1, 3)  # each rank draws its own


class Logger:
    def __init__(self):
        self.warnings = []

    def warning(self, message):
        self.warnings.append(message)


class FakeRunner:
    _resume = True

    def __init__(self):
        self.logger = Logger()


@pytest.mark.parametrize(
    'checkpoint,expected',
    [
        ({'meta': {'epoch': 1, 'iter': 5}}, 'holds no random state'),  # saved before the hook
        (
            {
                'meta': {'epoch': 1, 'iter': 5},
                'rng_state': dict(where='epoch', iter=5, world_size=2, states=[{}, {}]),
            },
            'holds the random state of 2 processes and this run has 1',
        ),
    ],
)
def test_resume_without_usable_random_state_warns_once(checkpoint, expected):
    hook, runner = RNGStateHook(), FakeRunner()
    hook.after_load_checkpoint(runner, checkpoint)
    [warning] = runner.logger.warnings
    assert expected in warning and 'not bit-identical' in warning and '\n' not in warning
    assert hook._pending is None  # nothing to restore: the run goes on with its generators


MIXUP = dict(data_preprocessor=dict(batch_augments=dict(augments=[dict(type='Mixup', alpha=0.4)])))
# The ImageNet recipes' optimiser: per-student options merged into one group per option set, so
# the checkpoint's momentum buffers are indexed by merged groups.
MERGED_GROUPS = dict(
    optim_wrapper=dict(
        constructor='MergedGroupsOptimWrapperConstructor',
        paramwise_cfg=dict(custom_keys={'students.1.': dict(decay_mult=0.4)}),
    )
)


def train(config, work_dir, num_workers, resume_from=None, drop_hooks=(), **options):
    cfg = tiny_mnist(config, num_labeled=24)  # 3 iterations per epoch
    cfg.merge_from_dict(
        dict(
            work_dir=str(work_dir),
            train_cfg=dict(max_epochs=2),
            train_dataloader=dict(num_workers=num_workers),
            default_hooks=dict(
                checkpoint=dict(
                    type='CheckpointHook', interval=1, save_best=None, max_keep_ckpts=-1
                )
            ),
        )
    )
    cfg.merge_from_dict(options)
    for name in drop_hooks:
        cfg.default_hooks.pop(name)
    if resume_from:
        cfg.resume, cfg.load_from = True, str(resume_from)
    runner = Runner.from_cfg(cfg)
    runner.train()
    return unwrap(runner.model).kd_loss.ramp, torch.load(
        work_dir / 'epoch_2.pth', weights_only=False
    )


def resumed_difference(tmp_path, config, num_workers, **options):
    """(max |difference| of all state tensors, warm-up ramps): 2 epochs straight versus the
    same run resumed from its epoch-1 checkpoint, as a run interrupted there would be."""
    ramp_a, straight = train(config, tmp_path / 'a', num_workers, **options)
    ramp_b, resumed = train(
        config, tmp_path / 'b', num_workers, resume_from=tmp_path / 'a' / 'epoch_1.pth', **options
    )
    difference = max_abs_difference(straight, resumed)
    print(f'{config} num_workers={num_workers}: max |difference| = {difference}')
    return difference, (ramp_a, ramp_b)


@pytest.mark.slow
@pytest.mark.parametrize(
    'config,num_workers,options',
    [
        (MNIST, 0, MIXUP),  # Mixup draws in the main process, between the data and the model
        # Persistent workers: the resumed run's first epoch starts new workers, the straight run's
        # reuses them (what mmpretrain's tools/train.py sets by default).
        (MNIST, 2, dict(MIXUP, train_dataloader=dict(persistent_workers=True))),
        (MNIST_GENERAL, 0, {}),
        (MNIST_GENERAL, 2, {}),
        (MNIST, 0, MERGED_GROUPS),
    ],
    ids=[
        'mean-0-workers',
        'mean-2-persistent-workers',
        'general-0-workers',
        'general-2-workers',
        'merged-optimiser-groups',
    ],
)
def test_resumed_run_is_bit_identical(tmp_path, config, num_workers, options):
    difference, ramps = resumed_difference(tmp_path, config, num_workers, **options)
    assert difference == 0, f'max |difference| = {difference}'
    # KDWarmupHook(length=2): at the last of 3 iterations of epoch 2, 1 + 2/3 of 2 epochs.
    assert ramps[0] == ramps[1] == pytest.approx(5 / 6)


@pytest.mark.slow
def test_without_the_random_state_the_comparison_fails(tmp_path):
    # What the test above guards against: a resume that redraws the epoch's augmentations and
    # batch mixes from the generators' fresh state.
    difference, _ = resumed_difference(
        tmp_path,
        MNIST,
        0,
        drop_hooks=['rng_state'],
        train_dataloader=dict(sampler=dict(type='DefaultSampler')),
        **MIXUP,
    )
    assert difference > 0
