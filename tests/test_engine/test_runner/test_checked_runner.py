"""kdcl_mm/engine/runner/checked_runner.py: ``None`` turns off kdcl_mm's default hooks too."""

import pytest
from mmengine.config import Config

from kdcl_mm.engine.runner.checked_runner import CheckedRunner

CONFIG = 'configs/kdcl/resnet18-w16_mbv2-w0.5_mnist.py'


def hook_names(runner):
    return [type(hook).__name__ for hook in runner.hooks]


@pytest.fixture
def cfg(tmp_path):
    cfg = Config.fromfile(CONFIG)
    cfg.work_dir = str(tmp_path)
    return cfg


def test_the_recipe_runs_with_the_divergence_guard(cfg):
    assert 'DivergenceGuardHook' in hook_names(CheckedRunner.from_cfg(cfg))


def test_none_removes_a_default_hook_mmengine_does_not_define(cfg):
    cfg.merge_from_dict({'default_hooks.divergence_guard': None, 'default_hooks.checkpoint': None})
    cfg.custom_hooks = []  # ExportStudentsHook needs the checkpoint hook (config_checks)
    names = hook_names(CheckedRunner.from_cfg(cfg))
    assert 'DivergenceGuardHook' not in names
    assert 'CheckpointHook' not in names  # mmengine's own removal still works
    assert 'LoggerHook' in names and 'RNGStateHook' in names  # the others stay
