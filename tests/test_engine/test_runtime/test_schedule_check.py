"""Schedules follow train_cfg.max_epochs: 1-epoch smoke runs train, a resumed longer run follows
the new end, and an impossible override stops before training with the scheduler's name."""

import sys

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner

from kdcl_mm.engine.runtime.schedule_check import check_param_schedulers, fit_param_schedulers
from tests.resume_utils import MNIST, max_abs_difference, tiny_mnist

WARMUP = dict(
    type='LinearLR', start_factor=0.1, by_epoch=True, begin=0, end=2, convert_to_iter_based=True
)
COSINE = dict(type='CosineAnnealingLR', by_epoch=True, begin=2)


def test_the_recipe_schedule_has_no_fixed_end():
    cfg = Config.fromfile(MNIST)
    assert [s.get('end') for s in cfg.param_scheduler] == [2, None]
    assert 'T_max' not in cfg.param_scheduler[1]  # T_max = end - begin, from max_epochs


@pytest.mark.parametrize('max_epochs', [1, 2, 30])
def test_recipe_schedule_passes_the_check_for_any_length(max_epochs):
    check_param_schedulers(
        Config(dict(param_scheduler=[WARMUP, COSINE], train_cfg=dict(max_epochs=max_epochs)))
    )


def test_a_schedule_beginning_after_the_run_is_kept_inactive():
    fitted = fit_param_schedulers([WARMUP, COSINE], max_epochs=1, max_iters=5)
    assert fitted == [WARMUP, dict(COSINE, end=3)]  # one epoch after its begin, never reached
    assert fit_param_schedulers([WARMUP, COSINE], max_epochs=30, max_iters=150) == [
        WARMUP,
        COSINE,
    ]  # mmengine's default end (max_epochs) applies


@pytest.mark.parametrize(
    'param_scheduler,path',
    [
        ([WARMUP, dict(COSINE, end=1)], 'param_scheduler.1'),
        (dict(COSINE, end=2), 'param_scheduler'),
        (dict(students=[dict(COSINE, end=0)]), 'param_scheduler.students.0'),
    ],
)
def test_explicit_end_not_after_begin_names_the_scheduler_and_the_fix(param_scheduler, path):
    cfg = Config(dict(param_scheduler=param_scheduler, train_cfg=dict(max_epochs=1)))
    with pytest.raises(ValueError) as error:
        check_param_schedulers(cfg)
    message = str(error.value)
    assert message.startswith(f'{path} (CosineAnnealingLR) begins at epoch 2 but ends at ')
    assert f'Fix: set {path}.end > 2, or remove `end`' in message


def test_train_py_stops_before_training_on_an_impossible_schedule(monkeypatch, tmp_path, capsys):
    from tools import train

    monkeypatch.setattr(
        sys,
        'argv',
        [
            'tools/train.py',
            MNIST,
            '--work-dir',
            str(tmp_path),
            '--cfg-options',
            'train_cfg.max_epochs=1',
            'param_scheduler.1.end=1',
        ],
    )
    with pytest.raises(SystemExit) as stop:
        train.main()
    assert str(stop.value).startswith(
        'error: param_scheduler.1 (CosineAnnealingLR) begins at epoch 2 but ends at 1'
    )
    assert not list(tmp_path.iterdir())  # nothing was built or written


def cosine(runner):
    [scheduler] = [s for s in runner.param_schedulers if type(s).__name__ == 'CosineAnnealingLR']
    return scheduler


@pytest.mark.slow
def test_one_epoch_smoke_run_then_a_longer_resumed_run_follows_the_new_end(tmp_path):
    cfg = tiny_mnist(num_labeled=16)  # 2 iterations per epoch
    cfg.merge_from_dict(dict(work_dir=str(tmp_path), train_cfg=dict(max_epochs=1)))
    smoke = Runner.from_cfg(cfg)
    smoke.train()  # mmengine alone: 'end should be larger than begin, begin=2, end=1'
    assert (cosine(smoke).begin, cosine(smoke).end) == (2, 3)  # inactive in the smoke run

    cfg.merge_from_dict(dict(train_cfg=dict(max_epochs=4), resume=True))
    resumed = Runner.from_cfg(cfg)
    resumed.train()
    # The checkpoint's end (3) would end the cosine after one epoch; the config's
    # max_epochs=4 gives it two. The whole run is then the one a 4-epoch run would have been.
    assert (cosine(resumed).end, cosine(resumed).T_max) == (4, 2)
    cfg.merge_from_dict(dict(work_dir=str(tmp_path / 'straight'), resume=False))
    straight = Runner.from_cfg(cfg)
    straight.train()
    assert resumed.optim_wrapper.get_lr() == straight.optim_wrapper.get_lr()
    difference = max_abs_difference(
        *(
            torch.load(path / 'epoch_4.pth', weights_only=False)
            for path in (tmp_path, tmp_path / 'straight')
        )
    )
    print(f'1 epoch, resumed to 4, versus 4 epochs: max |difference| = {difference}')
    assert difference == 0
