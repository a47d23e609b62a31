"""Crash-safe progress: when training raises, the last completed iteration is saved (atomic,
every rank's random state, marked as an emergency) and --resume from it ends bit-identical to
a run that never failed; a state the exception left inconsistent is not saved, and the log
says why."""

import glob
import os.path as osp

import pytest
import torch
from mmengine.hooks import Hook
from mmengine.runner import Runner

from kdcl_mm.registry import HOOKS
from tests.resume_utils import max_abs_difference, tiny_mnist


@HOOKS.register_module(force=True)
class FaultInjectionHook(Hook):
    """Raises once, at a chosen point of a chosen iteration (counted from 1) or epoch."""

    priority = 'ABOVE_NORMAL'

    def __init__(self, where: str, at: int):
        self.where, self.at = where, at

    def before_train(self, runner):
        if self.where == 'forward':  # after student 0's forward has updated its BN statistics
            runner.model.students[1].register_forward_pre_hook(self._oom(runner))
        if self.where == 'data':
            fetch = runner.train_dataloader.dataset.__getitems__
            load = fetch.load

            def failing_load(index):
                if runner.iter + 1 == self.at:
                    raise OSError('Input/output error (simulated)')
                return load(index)

            fetch.load = failing_load

    def _oom(self, runner):
        def raise_oom(module, args):
            if module.training and runner.iter + 1 == self.at:
                raise torch.cuda.OutOfMemoryError('CUDA out of memory (simulated)')

        return raise_oom

    def before_val_epoch(self, runner):
        if self.where == 'validation' and runner.epoch == self.at:
            raise RuntimeError('validation failed (simulated)')

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if self.where == 'after_step' and runner.iter + 1 == self.at:
            raise RuntimeError('a hook failed after the step (simulated)')


def config(work_dir, fault=None, resume_from=None):
    cfg = tiny_mnist(num_labeled=24)  # 3 iterations per epoch
    cfg.merge_from_dict(
        dict(
            work_dir=str(work_dir),
            train_cfg=dict(max_epochs=2),
            data_preprocessor=dict(batch_augments=dict(augments=[dict(type='Mixup', alpha=0.4)])),
            default_hooks=dict(
                checkpoint=dict(
                    type='CheckpointHook', interval=1, save_best=None, max_keep_ckpts=-1
                )
            ),
        )
    )
    if fault:
        cfg.custom_hooks.append(dict(type='FaultInjectionHook', **fault))
    if resume_from:
        cfg.resume, cfg.load_from = True, str(resume_from)
    return cfg


def log_text(work_dir) -> str:
    return ''.join(open(p).read() for p in glob.glob(osp.join(work_dir, '*', '*.log')))


@pytest.fixture(scope='module')
def straight(tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('straight')
    Runner.from_cfg(config(work_dir)).train()
    return torch.load(work_dir / 'epoch_2.pth', weights_only=False)


@pytest.mark.slow
@pytest.mark.parametrize(
    'fault,saved,where,phase',
    [
        # Mid-epoch, in student 1's forward pass: student 0's BN statistics have moved and Mixup
        # has drawn; both are put back.
        (dict(where='forward', at=5), 4, 'iter', 'iteration 5'),
        # Between epochs: saved as the epoch's start, like an epoch checkpoint.
        (dict(where='validation', at=1), 3, 'epoch', 'validation after epoch 1'),
    ],
    ids=['oom-in-forward', 'validation-error'],
)
def test_resume_from_the_emergency_checkpoint_is_bit_identical(
    tmp_path, straight, fault, saved, where, phase
):
    crashed = tmp_path / 'crashed'
    with pytest.raises((torch.cuda.OutOfMemoryError, RuntimeError), match='simulated'):
        Runner.from_cfg(config(crashed, fault)).train()
    path = crashed / f'emergency_iter_{saved}.pth'
    assert (crashed / 'last_checkpoint').read_text() == str(path)
    assert not glob.glob(str(crashed / '.*.tmp'))  # written through the atomic backend
    checkpoint = torch.load(path, weights_only=False)
    assert checkpoint['meta']['iter'] == saved
    assert checkpoint['meta']['emergency']['phase'] == phase
    assert 'simulated' in checkpoint['meta']['emergency']['exception']
    assert checkpoint['rng_state']['where'] == where
    assert f'saved the last completed iteration ({saved}) to {path}' in log_text(crashed)

    Runner.from_cfg(config(tmp_path / 'resumed', resume_from=path)).train()
    resumed = torch.load(tmp_path / 'resumed' / 'epoch_2.pth', weights_only=False)
    difference = max_abs_difference(straight, resumed)
    print(f'{fault}: resumed from {path.name}: max |difference| = {difference}')
    assert difference == 0, f'max |difference| = {difference}'


@pytest.mark.slow
def test_a_batch_that_cannot_be_loaded_keeps_the_iterations_done(tmp_path):
    crashed = tmp_path / 'crashed'
    with pytest.raises(Exception, match='training sample .* Input/output error') as raised:
        Runner.from_cfg(config(crashed, dict(where='data', at=5))).train()
    assert type(raised.value).__name__ == 'SampleLoadError'
    checkpoint = torch.load(crashed / 'emergency_iter_4.pth', weights_only=False)
    assert checkpoint['meta']['emergency']['phase'] == 'loading the batch of iteration 5'
    assert checkpoint['rng_state']['where'] == 'iter'


@pytest.mark.slow
def test_an_exception_after_the_optimiser_step_saves_nothing_and_says_why(tmp_path):
    with pytest.raises(RuntimeError, match='simulated'):
        Runner.from_cfg(config(tmp_path, dict(where='after_step', at=2))).train()
    assert not glob.glob(str(tmp_path / 'emergency_*'))
    assert (
        'No emergency checkpoint after RuntimeError in iteration 2: the exception came after the '
        'optimiser had started updating the weights in iteration 2'
    ) in log_text(tmp_path)
