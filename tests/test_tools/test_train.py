"""tools/train.py refuses, before building anything, to train over checkpoints
(kdcl_mm.utils.overwrite_guard), and says which files and which flags fix it."""

import sys

import pytest

from tests.resume_utils import MNIST
from tools import train


def run_main(module, monkeypatch, argv):
    monkeypatch.setattr(sys, 'argv', argv)
    with pytest.raises(SystemExit) as stop:
        module.main()
    return str(stop.value)


def test_train_refuses_a_work_dir_with_checkpoints(monkeypatch, tmp_path):
    for epoch in range(1, 6):
        (tmp_path / f'epoch_{epoch}.pth').write_bytes(b'kept')
    message = run_main(train, monkeypatch, ['tools/train.py', MNIST, '--work-dir', str(tmp_path)])
    assert message.startswith(f'refusing to overwrite {tmp_path}/epoch_1.pth, ')
    assert '(and 2 more)' in message and f'work_dir {tmp_path} already holds checkpoints' in message
    assert 'Pass --resume to continue, --work-dir to train elsewhere, or --overwrite.' in message
    assert sorted(p.name for p in tmp_path.iterdir()) == [f'epoch_{e}.pth' for e in range(1, 6)]


def test_train_refusal_is_lifted_by_resume_or_overwrite(tmp_path):
    from mmengine.config import Config

    (tmp_path / 'epoch_1.pth').write_bytes(b'kept')
    cfg = Config(dict(work_dir=str(tmp_path)))
    args = type('Args', (), dict(overwrite=False))
    with pytest.raises(SystemExit, match='epoch_1.pth'):
        train.refuse_to_overwrite(cfg, args)
    train.refuse_to_overwrite(Config(dict(work_dir=str(tmp_path), resume=True)), args)
    args.overwrite = True
    train.refuse_to_overwrite(cfg, args)
