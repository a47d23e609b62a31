"""Runner checkpoints save, resume and load under torch >= 2.6 (weights_only by default)."""

import os
import pickle

import pytest
import torch
import torch.nn as nn
from mmengine.model import BaseModel
from mmengine.runner import Runner, load_checkpoint

from kdcl_mm.engine.runtime.checkpoint_loading import UnsafeCheckpointError, load_local_checkpoint


class ToyModel(BaseModel):
    def __init__(self):
        super().__init__()
        self.linear = nn.Linear(2, 1)

    def forward(self, inputs, labels=None, mode='tensor'):
        out = self.linear(torch.stack(inputs))
        if mode == 'loss':
            return dict(loss=((out.squeeze(1) - torch.stack(labels)) ** 2).mean())
        return out


class ToyDataset(torch.utils.data.Dataset):
    metainfo = dict(classes=('a', 'b'))

    def __len__(self):
        return 4

    def __getitem__(self, i):
        g = torch.Generator().manual_seed(i)
        return dict(inputs=torch.randn(2, generator=g), labels=torch.tensor(float(i % 2)))


def make_runner(work_dir, max_epochs, resume=False, load_from=None):
    torch.manual_seed(0)  # the model is built before the Runner seeds anything
    return Runner(
        model=ToyModel(),
        work_dir=str(work_dir),
        train_dataloader=dict(
            dataset=ToyDataset(),
            batch_size=2,
            sampler=dict(type='DefaultSampler', shuffle=True),
            collate_fn=dict(type='pseudo_collate'),
        ),
        optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9)),
        param_scheduler=dict(type='MultiStepLR', milestones=[1, 3], by_epoch=True, end=4),
        train_cfg=dict(by_epoch=True, max_epochs=max_epochs),
        default_hooks=dict(
            checkpoint=dict(type='CheckpointHook', interval=2),
            logger=dict(type='LoggerHook', interval=1),
        ),
        resume=resume,
        load_from=load_from,
        randomness=dict(seed=0),
        default_scope='mmengine',
        experiment_name=f'toy_{max_epochs}_{resume}',
    )


@pytest.mark.skipif(
    tuple(int(v) for v in torch.__version__.split('.')[:2]) < (2, 6),
    reason='torch.load defaults to weights_only=True from torch 2.6 on; before, it loads anything',
)
def test_torch_load_alone_rejects_a_runner_checkpoint(tmp_path):
    """Why the compat exists: torch's default weights_only=True cannot read it."""
    make_runner(tmp_path, 2).train()
    with pytest.raises(pickle.UnpicklingError):
        torch.load(tmp_path / 'epoch_2.pth')


def test_runner_resumes_and_continues_like_an_uninterrupted_run(tmp_path):
    make_runner(tmp_path / 'full', 4).train()
    make_runner(tmp_path / 'part', 2).train()
    resumed = make_runner(
        tmp_path / 'part', 4, resume=True, load_from=str(tmp_path / 'part' / 'epoch_2.pth')
    )
    resumed.train()
    assert resumed.epoch == 4
    full = torch.load(tmp_path / 'full' / 'epoch_4.pth', weights_only=False)
    part = torch.load(tmp_path / 'part' / 'epoch_4.pth', weights_only=False)
    for key, value in full['state_dict'].items():
        torch.testing.assert_close(part['state_dict'][key], value)
    assert part['meta']['epoch'] == 4
    # What made torch's weights_only loader refuse the file came back as real objects.
    from mmengine.logging import HistoryBuffer

    resumed_ckpt = load_local_checkpoint(str(tmp_path / 'part' / 'epoch_4.pth'))
    assert isinstance(resumed_ckpt['message_hub']['log_scalars']['train/loss'], HistoryBuffer)


def test_load_from_and_load_checkpoint_use_the_safe_loader(tmp_path):
    make_runner(tmp_path, 2).train()
    model = ToyModel()
    load_checkpoint(model, str(tmp_path / 'epoch_2.pth'))
    saved = torch.load(tmp_path / 'epoch_2.pth', weights_only=False)['state_dict']
    torch.testing.assert_close(model.linear.weight, saved['linear.weight'])


def test_plain_state_dicts_take_the_weights_only_path(tmp_path):
    path = tmp_path / 'backbone.pth'
    torch.save({'state_dict': {'w': torch.arange(3.0)}}, path)
    assert torch.equal(load_local_checkpoint(str(path))['state_dict']['w'], torch.arange(3.0))


class _RunsCode:
    def __reduce__(self):
        return (os.system, ('touch pwned',))


def test_a_checkpoint_that_would_run_code_is_refused(tmp_path, monkeypatch):
    path = tmp_path / 'evil.pth'
    torch.save({'state_dict': {}, 'meta': _RunsCode()}, path)
    monkeypatch.chdir(tmp_path)
    with pytest.raises(UnsafeCheckpointError, match='system'):
        load_local_checkpoint(str(path))
    assert not (tmp_path / 'pwned').exists()


def test_getattr_is_only_resolved_for_allowlisted_attributes(tmp_path):
    class _Sneaky:
        def __reduce__(self):
            import mmengine.logging.history_buffer as hb

            return (getattr, (hb.HistoryBuffer, '__init__'))

    path = tmp_path / 'sneaky.pth'
    torch.save({'meta': _Sneaky()}, path)
    with pytest.raises(UnsafeCheckpointError, match='__init__'):
        load_local_checkpoint(str(path))


def test_truncated_and_missing_checkpoints_get_clear_errors(tmp_path):
    good = tmp_path / 'good.pth'
    torch.save({'state_dict': {'w': torch.randn(1000)}}, good)
    truncated = tmp_path / 'truncated.pth'
    truncated.write_bytes(good.read_bytes()[:500])
    with pytest.raises(RuntimeError, match='truncated'):
        load_local_checkpoint(str(truncated))
    with pytest.raises(FileNotFoundError, match='does not exist'):
        load_local_checkpoint(str(tmp_path / 'nope.pth'))
