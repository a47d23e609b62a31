"""tools.analysis_tools.fault_injection: NaNLogitsHook spoils student 0's logits on the
drawn batches and only on them; the report is built from what finished (or stopped) runs left
in their run dirs, with the launcher's child process replaced by a fake that writes those
files."""

import json
import os
import os.path as osp
from types import SimpleNamespace

import pytest
import torch

from tools.analysis_tools import fault_injection as fi
from tools.common.mnist_recipes import GENERATOR_CONFIG, REPO
from tools.common.sweep import Launcher, RunFailed

from ..test_demo.demo_files import assert_png, assert_tables_well_formed

STOPPED = 'Training diverged: 20 optimiser steps in a row were skipped'


def test_faulty_iterations_are_drawn_from_the_seed_and_at_least_one():
    assert len(fi.faulty_iterations(10, 0.01, seed=0)) == 1  # round(0.1) would be none
    assert len(fi.faulty_iterations(1000, 0.01, seed=0)) == 10
    assert fi.faulty_iterations(1000, 0.01, seed=3) == fi.faulty_iterations(1000, 0.01, seed=3)
    assert fi.faulty_iterations(1000, 0.01, seed=3) != fi.faulty_iterations(1000, 0.01, seed=4)
    assert fi.faulty_iterations(5, 1.0, seed=0) == [0, 1, 2, 3, 4]


def test_the_hook_makes_student_0_nan_on_the_drawn_batches_only(build_tiny_kdcl, multi_view_batch):
    model = build_tiny_kdcl()
    views, samples = multi_view_batch(n=2, size=16)
    logged = []
    runner = SimpleNamespace(
        model=model, max_iters=6, iter=0, logger=SimpleNamespace(info=logged.append)
    )
    hook = fi.NaNLogitsHook(fraction=0.3, seed=1, isolate=False)
    hook.before_train(runner)
    assert model.soft_target.isolate_nonfinite is False
    drawn = fi.faulty_iterations(6, 0.3, seed=1)
    assert sorted(hook.iterations) == drawn and len(drawn) == 2
    assert logged == [f'{fi.HIT} {drawn} (student 0)']  # what run_outcome reads back
    spoiled = []
    with torch.no_grad():
        for i in range(6):
            runner.iter = i
            hook.before_train_iter(runner, i)
            first, second = model.student_logits(views)
            assert torch.isfinite(second).all()
            if torch.isnan(first).all():
                spoiled.append(i)
            else:
                assert torch.isfinite(first).all()
            hook.after_train_iter(runner, i)
    assert spoiled == drawn
    assert torch.isfinite(model.student_logits(views)[0]).all()  # not after the iteration


def test_the_faulty_student_gets_nan_gradients(build_tiny_kdcl, multi_view_batch):
    """+ NaN keeps the graph: the fault reaches the optimiser as a real one would."""
    model = build_tiny_kdcl()
    views, samples = multi_view_batch(n=2, size=16)
    runner = SimpleNamespace(model=model, max_iters=1, iter=0, logger=SimpleNamespace(info=print))
    hook = fi.NaNLogitsHook(fraction=1.0)
    hook.before_train(runner)
    hook.before_train_iter(runner, 0)
    assert model.soft_target.isolate_nonfinite is True
    losses = model.loss(views, samples)
    sum(v for k, v in losses.items() if 'mobilenet_v2' not in k and 'loss' in k).backward()
    grads = [p.grad for p in model.students[0].parameters() if p.grad is not None]
    assert grads and all(torch.isnan(g).any() for g in grads)
    assert losses['mobilenet_v2.loss_kd'].isfinite()  # isolation on: student 1's KD is finite


def test_a_fault_config_inherits_the_recipe_and_adds_the_hook(tmp_path):
    from mmengine.config import Config

    args = SimpleNamespace(out_dir=str(tmp_path), fraction=0.02, fault_seed=5, faulty_student=0)
    # The clean arm is the recipe itself, as an absolute path (the tool may run from anywhere).
    assert fi.fault_config(args, 'Mean', 'clean') == osp.join(REPO, GENERATOR_CONFIG.format('mean'))
    path = fi.fault_config(args, 'Mean', 'not_isolated')
    cfg = Config.fromfile(path, import_custom_modules=False)
    assert cfg.model.soft_target.type == 'MeanSoftTarget'
    assert cfg.custom_imports.imports == fi.IMPORTS
    hook = cfg.default_hooks.nan_logits
    assert (hook.type, hook.fraction, hook.seed, hook.isolate) == ('NaNLogitsHook', 0.02, 5, False)
    assert cfg.default_hooks.divergence_guard.type == 'DivergenceGuardHook'  # kept
    other = fi.fault_config(
        SimpleNamespace(**dict(vars(args), faulty_student=1)), 'Mean', 'isolated'
    )
    assert other != path  # one config per arm and faulty student
    assert Config.fromfile(other, import_custom_modules=False).default_hooks.nan_logits.student == 1


class FakeTools:
    """Launcher.spawn: leaves the logs and metrics of tools/train.py and test.py; the
    ``not_isolated`` run of ``stop`` ends with the divergence guard's error, of ``crash``
    with another error."""

    def __init__(self, stop='Mean', crash=None):
        self.stop, self.crash, self.trained = stop, crash, []

    def __call__(self, cmd, log):
        work_dir = cmd[cmd.index('--work-dir') + 1]
        name = log.split(os.sep)[-3]  # runs/<generator>_<arm>/seed0/{train,test}.log
        os.makedirs(work_dir, exist_ok=True)
        if cmd[0] == 'tools/test.py':
            gen, arm = name.split('_', 1)
            top1 = {'clean': 90.0, 'isolated': 80.0, 'not_isolated': 70.0}[arm]
            with open(cmd[cmd.index('--out') + 1], 'w') as f:
                json.dump({'mobilenet_v2/top1': top1 + len(gen), 'resnet18/top1': 1.0}, f)
            return 0, 1.0
        self.trained.append(name)
        lines = [] if name.endswith('clean') else [f'{fi.HIT} [3, 7] (student 0)']
        lines += [f'{fi.SKIPPED} of iteration 4: the loss was non-finite'] * (len(lines) * 2)
        failed = name in (f'{self.stop}_not_isolated', f'{self.crash}_not_isolated')
        if name == f'{self.stop}_not_isolated':
            lines.append(f'kdcl_mm.engine.runtime.divergence_guard.DivergenceError: {STOPPED}')
        with open(log, 'w') as f:
            f.write('\n'.join(lines) + '\n')
        if failed:
            return 1, 1.0
        with open(osp.join(work_dir, 'last_checkpoint'), 'w') as f:
            f.write(osp.join(work_dir, 'epoch_2.pth'))
        return 0, 1.0


def run_tool(tmp_path, monkeypatch, fake, *args):
    monkeypatch.setattr(Launcher, 'spawn', lambda self, cmd, log: fake(cmd, log))
    fi.main(['--out-dir', str(tmp_path), '--generators', 'Mean', 'Naive', *args])
    with open(tmp_path / 'report.json') as f:
        return json.load(f)


def test_the_report_is_built_from_the_runs_and_a_stopped_run_is_an_outcome(tmp_path, monkeypatch):
    fake = FakeTools(stop='Mean')
    report = run_tool(tmp_path, monkeypatch, fake)
    rows = {(r['generator'], r['arm']): r for r in report['rows']}
    assert len(rows) == 6
    assert rows['Naive', 'clean']['top1'] == 95.0 and rows['Naive', 'isolated']['top1'] == 85.0
    assert rows['Naive', 'not_isolated']['top1'] == 75.0
    assert rows['Naive', 'clean']['skipped_steps'] == 0
    assert rows['Naive', 'isolated']['skipped_steps'] == 2
    assert rows['Naive', 'isolated']['faulty_iterations'] == [3, 7]
    stopped = rows['Mean', 'not_isolated']
    assert stopped['top1'] is None and stopped['stopped'].startswith(STOPPED)
    assert rows['Mean', 'isolated']['stopped'] is None
    assert report['table'][0][:4] == ['Mean', '94.0', '84.0', 'stopped']
    markdown = (tmp_path / 'report.md').read_text()
    assert_tables_well_formed(markdown)
    assert 'not_isolated stopped: Training diverged' in markdown
    assert_png(str(tmp_path / fi.PLOT))
    # A second call trains nothing: finished runs and the stopped one are done.
    fake.trained.clear()
    run_tool(tmp_path, monkeypatch, fake, '--overwrite')
    assert fake.trained == []


def test_a_failure_that_is_not_the_guard_stops_the_tool(tmp_path, monkeypatch):
    with pytest.raises(RunFailed):
        run_tool(tmp_path, monkeypatch, FakeTools(stop=None, crash='Mean'))
    assert not osp.exists(tmp_path / 'report.json')


def test_the_tool_runs_from_outside_the_repository(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # the recipes' relative paths are the repository's, not the cwd's
    report = run_tool(tmp_path / 'out', monkeypatch, FakeTools(stop=None))
    assert len(report['rows']) == 6 and all(r['top1'] for r in report['rows'])
