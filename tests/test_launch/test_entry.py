"""kdcl_mm.launch.entry: the options, config loading and overwrite refusal that tools/train.py
and tools/test.py share."""

import argparse
import os
import os.path as osp
import sys

import pytest

from kdcl_mm.launch.entry import exit_if_refused, load_config, parse_launch_args
from tests.resume_utils import MNIST


def parse(monkeypatch, argv):
    parser = argparse.ArgumentParser()
    parser.add_argument('config')
    parser.add_argument('--work-dir')
    monkeypatch.setattr(sys, 'argv', ['tools/train.py', *argv])
    monkeypatch.delenv('LOCAL_RANK', raising=False)
    return parse_launch_args(parser, 'overrides')


def test_parse_launch_args_adds_the_shared_options_and_exports_local_rank(monkeypatch):
    args = parse(monkeypatch, [MNIST, '--launcher', 'pytorch', '--local-rank', '3'])
    assert (args.launcher, args.local_rank, args.cfg_options) == ('pytorch', 3, None)
    assert os.environ['LOCAL_RANK'] == '3'


def test_load_config_sets_launcher_overrides_and_the_default_work_dir(monkeypatch):
    args = parse(monkeypatch, [MNIST, '--cfg-options', 'train_cfg.max_epochs=1'])
    cfg = load_config(args)
    assert cfg.launcher == 'none' and cfg.train_cfg.max_epochs == 1
    assert cfg.work_dir == osp.join('./work_dirs', osp.splitext(osp.basename(MNIST))[0])
    assert load_config(parse(monkeypatch, [MNIST, '--work-dir', 'x'])).work_dir == 'x'


def test_exit_if_refused_ends_the_script_with_the_fix(tmp_path):
    existing = tmp_path / 'metrics.json'
    existing.write_text('{}')
    exit_if_refused([str(tmp_path / 'absent.json')], False, fix='unused')
    with pytest.raises(SystemExit, match='pass another --out'):
        exit_if_refused([str(existing)], False, fix='pass another --out')
    exit_if_refused([str(existing)], True, fix='unused')
