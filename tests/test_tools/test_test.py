"""tools/test.py refuses, before testing, to write over an earlier --out
(kdcl_mm.utils.overwrite_guard)."""

import sys

import pytest

from tests.resume_utils import MNIST
from tools import test as test_py


def test_test_refuses_an_existing_out_before_testing(monkeypatch, tmp_path):
    (tmp_path / 'model.pth').write_bytes(b'not read')
    (tmp_path / 'metrics.json').write_text('{"earlier": 1}')
    argv = ['tools/test.py', MNIST, str(tmp_path / 'model.pth'), '--out']
    monkeypatch.setattr(sys, 'argv', [*argv, str(tmp_path / 'metrics.json')])
    with pytest.raises(SystemExit) as stop:
        test_py.main()
    message = str(stop.value)
    assert message == (
        f'refusing to overwrite {tmp_path}/metrics.json: pass another --out, or delete it.'
    )
    assert (tmp_path / 'metrics.json').read_text() == '{"earlier": 1}'


def test_test_builds_the_configs_runner_type(monkeypatch, tmp_path):
    """kdcl_mm's recipes name CheckedRunner, so default_hooks.divergence_guard=None (which
    only CheckedRunner accepts) works in tools/test.py as in tools/train.py."""
    from kdcl_mm.engine.runner.checked_runner import CheckedRunner

    (tmp_path / 'model.pth').write_bytes(b'not read')
    built = []

    class Stop(Exception):
        pass

    def from_cfg(cfg):
        built.append(cfg.default_hooks.divergence_guard)
        raise Stop

    monkeypatch.setattr(CheckedRunner, 'from_cfg', from_cfg)
    argv = ['tools/test.py', MNIST, str(tmp_path / 'model.pth'), '--work-dir', str(tmp_path)]
    monkeypatch.setattr(
        sys, 'argv', [*argv, '--cfg-options', 'default_hooks.divergence_guard=None']
    )
    with pytest.raises(Stop):
        test_py.main()
    assert built == [None]
