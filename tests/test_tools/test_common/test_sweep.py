"""tools/common/sweep.py: what a job runs (train, then test its last checkpoint), skip-if-finished,
a failure that is an outcome, and the progress count, with the launcher's child process
replaced by a fake that writes what the tools would."""

import os
import os.path as osp
import re

import pytest

from tools.common import sweep as sweep_module
from tools.common.sweep import Job, Launcher, Progress, RunFailed, Sweep, write_config


class FakeTools:
    """Launcher.spawn: records each command and leaves what tools/train.py / test.py leave."""

    def __init__(self):
        self.calls = []

    def __call__(self, cmd, log):
        self.calls.append(list(cmd))
        work_dir = cmd[cmd.index('--work-dir') + 1]
        os.makedirs(work_dir, exist_ok=True)
        if cmd[0] == 'tools/train.py':
            with open(osp.join(work_dir, 'last_checkpoint'), 'w') as f:
                f.write(osp.join(work_dir, 'epoch_3.pth'))
        else:
            with open(cmd[cmd.index('--out') + 1], 'w') as f:
                f.write('{}')
        return 0, 2.0


def sweep_with_fake(tmp_path, monkeypatch, progress=None):
    fake = FakeTools()
    monkeypatch.setattr(Launcher, 'spawn', lambda self, cmd, log: fake(cmd, log))
    progress = progress or Progress('test')
    return Sweep(str(tmp_path), Launcher(jobs=2, name='test'), progress), fake, progress


def test_a_job_trains_then_tests_its_last_checkpoint(tmp_path, monkeypatch, capsys):
    sweep, fake, progress = sweep_with_fake(tmp_path, monkeypatch)
    job = Job('a', 'kdcl_Linear', 'c.py', 3, ['x=1'], train_flags=('--no-validate',))
    sweep.run([job])
    work_dir = str(tmp_path / 'runs' / 'kdcl_Linear' / 'seed3')
    assert fake.calls == [
        ['tools/train.py', 'c.py', '--work-dir', work_dir, '--overwrite', '--no-validate']
        + ['--cfg-options', 'randomness.seed=3', 'x=1'],
        ['tools/test.py', 'c.py', osp.join(work_dir, 'epoch_3.pth'), '--work-dir']
        + [osp.join(work_dir, 'test'), '--out', osp.join(work_dir, 'test_metrics.json')]
        + ['--cfg-options', 'randomness.seed=3', 'x=1'],
    ]
    assert sweep.finished(job)
    assert progress.steps == [dict(name='a', wall_s=progress.steps[0]['wall_s'], cpu_s=4.0)]
    assert '[test 1/1 |' in capsys.readouterr().out


def test_finished_jobs_are_skipped_and_the_count_grows_with_the_rest(tmp_path, monkeypatch):
    sweep, fake, progress = sweep_with_fake(tmp_path, monkeypatch)
    jobs = [Job(f'{s}', 'solo', 'c.py', s, test=False) for s in (0, 1)]
    sweep.run(jobs[:1])
    fake.calls.clear()
    sweep.run(jobs)  # seed 0 finished: only seed 1 trains
    assert [c[c.index('--cfg-options') + 1] for c in fake.calls] == ['randomness.seed=1']
    assert progress.total == 2 and progress.done == 2
    fake.calls.clear()
    sweep.run(jobs, launch=True)
    assert fake.calls == []


def test_a_trained_job_whose_test_did_not_finish_runs_again(tmp_path, monkeypatch):
    sweep, fake, _ = sweep_with_fake(tmp_path, monkeypatch)
    job = Job('a', 'kdcl', 'c.py', 0)
    sweep.run([job])
    os.remove(sweep.test_metrics(job))
    assert not sweep.finished(job)
    fake.calls.clear()
    sweep.run([job], launch=False)  # only counted
    assert fake.calls == []
    sweep.run([job])
    assert [c[0] for c in fake.calls] == ['tools/train.py', 'tools/test.py']


def test_a_fixed_total_is_kept_less_the_jobs_found_finished(tmp_path, monkeypatch):
    sweep, _, progress = sweep_with_fake(tmp_path, monkeypatch, Progress('demo', 7))
    job = Job('a', 'kdcl', 'c.py', 0)
    sweep.run([job])
    assert (progress.total, progress.done) == (7, 1)
    sweep.run([job], launch=False)  # only counted: nothing is taken off
    assert progress.total == 7
    sweep.run([job])  # found finished: that step of the plan will not come
    assert (progress.total, progress.done) == (6, 1)


class FakeClock:
    """``time.time`` that only moves when told to."""

    def __init__(self, monkeypatch, now=1_000_000.0):
        self.now = now
        monkeypatch.setattr(sweep_module.time, 'time', lambda: self.now)

    def advance(self, minutes):
        self.now += 60 * minutes


# A step line: [name i/total | minutes min, ~N min left] what (no estimate before a step ended).
STEP_LINE = re.compile(r'^\[(\w+) (\d+)/(\d+) \| +(\d+\.\d) min(?:, (~\d+|<1) min left)?\] (.*)$')


def step_lines(out):
    return [STEP_LINE.match(line).groups() for line in out.splitlines() if line.startswith('[')]


def test_each_step_says_how_long_is_left_at_the_pace_so_far(monkeypatch, capsys):
    clock = FakeClock(monkeypatch)
    progress = Progress('demo', 6)
    with progress.step('data', 'data'):
        clock.advance(2)
    # Two steps run at once: the second is announced before the first has finished.
    a, b = progress.step('run a', 'a'), progress.step('run b', 'b')
    clock.advance(1)
    a.__enter__()
    b.__enter__()
    clock.advance(4)
    a.__exit__(None, None, None)
    with progress.step('run c', 'c'):
        clock.advance(0.5)
    b.__exit__(None, None, None)
    with progress.step('report', 'report'):
        pass
    assert [line[1:] for line in step_lines(capsys.readouterr().out)] == [
        ('1', '6', '0.0', None, 'data'),  # no pace before two steps have finished
        ('2', '6', '3.0', None, 'run a'),
        ('3', '6', '3.0', None, 'run b'),  # a has not finished
        # 4 steps to come at the mean 3 min, less b's 3 (it has run 4): 9 min of steps; 7 min
        # of wall for 10 min of steps so far (b's 4 included), so 9 x 0.7.
        ('4', '6', '7.0', '~6', 'run c'),
        ('5', '6', '7.5', '~4', 'report'),  # 2 steps at 2.75 min, x 7.5 / 11
    ]
    assert [s['wall_s'] for s in progress.steps] == [120.0, 240.0, 30.0, 270.0, 0.0]


def test_the_estimate_grows_with_the_count_and_says_under_a_minute(monkeypatch, capsys):
    clock = FakeClock(monkeypatch)
    progress = Progress('search')
    progress.expect(['a', 'b', 'c'])
    for what in ('a', 'b', 'c'):
        with progress.step(what, what):
            clock.advance(0.2)
    progress.expect(['d'] * 10)  # a later stage: 10 more runs at 0.2 min each
    with progress.step('d', 'd'):
        pass
    lines = step_lines(capsys.readouterr().out)
    assert [(line[2], line[4]) for line in lines] == [
        ('3', None),
        ('3', None),
        ('3', '<1'),  # 0.4 min / 2 steps x 1
        ('13', '~2'),  # 0.6 min / 3 steps x 10
    ]


def test_steps_to_come_are_estimated_from_the_finished_steps_of_their_kind(monkeypatch, capsys):
    clock = FakeClock(monkeypatch)
    progress = Progress('demo', plan=['data', 'short', 'short', 'long', 'long'])
    for kind, minutes in [('data', 1), ('short', 1), ('short', 1), ('long', 10), ('long', 10)]:
        with progress.step(kind, kind):
            clock.advance(minutes)
    assert [(line[2], line[4]) for line in step_lines(capsys.readouterr().out)] == [
        ('5', None),
        ('5', None),
        ('5', '~3'),  # one short (1 min), two long of unknown length (the mean, 1 min)
        ('5', '~2'),  # two long, still unknown
        ('5', '~10'),  # one long, as long as the first (the mean step so far would say 13/4)
    ]
    assert progress.kinds == ['data', 'short', 'short', 'long', 'long']


def test_a_step_that_fails_is_not_recorded_and_no_longer_counts_as_running(monkeypatch):
    FakeClock(monkeypatch)
    progress = Progress('demo', plan=['a', 'b'])
    with pytest.raises(RuntimeError):
        with progress.step('a', 'a'):
            assert list(progress.running.values())[0][0] == 'a'
            raise RuntimeError('the run failed')
    assert (progress.steps, progress.running, progress.done) == ([], {}, 1)


def has_stopped(log):
    with open(log) as f:
        return 'DivergenceError' in f.read()


def test_a_failure_stops_the_others_and_raises_unless_it_is_an_outcome(tmp_path, monkeypatch):
    log = tmp_path / 'train.log'
    log.write_text('DivergenceError: diverged\n')
    monkeypatch.setattr(Launcher, 'spawn', lambda self, cmd, log: (1, 0.5))
    launcher = Launcher(name='test', is_outcome=has_stopped)
    assert launcher.run(['x.py'], str(log)) == 0.5
    assert not launcher.failed.is_set()
    log.write_text('Traceback: KeyError\n')
    with pytest.raises(RunFailed, match=r'test: `x.py` failed \(exit 1\)'):
        launcher.run(['x.py'], str(log))
    assert launcher.failed.is_set()


def test_a_job_that_stopped_as_an_outcome_is_not_tested_and_is_finished(tmp_path, monkeypatch):
    trained = []

    def spawn(self, cmd, log):
        assert cmd[0] == 'tools/train.py'  # never tested
        trained.append(cmd[cmd.index('--cfg-options') + 1])
        os.makedirs(osp.dirname(log), exist_ok=True)
        with open(log, 'w') as f:
            f.write('DivergenceError: diverged\n')
        return 1, 0.5

    monkeypatch.setattr(Launcher, 'spawn', spawn)
    sweep = Sweep(str(tmp_path), Launcher(name='test', is_outcome=has_stopped), Progress('test'))
    jobs = [Job('a', 'kdcl', 'c.py', seed) for seed in (0, 1)]
    sweep.run(jobs)
    assert trained == ['randomness.seed=0', 'randomness.seed=1']  # the first stopped nothing
    assert sweep.stopped(jobs[0]) and sweep.finished(jobs[0])
    trained.clear()
    sweep.run(jobs)
    assert trained == []


def test_a_written_config_inherits_its_base_from_the_repository_root(tmp_path, monkeypatch):
    from mmengine.config import Config

    from tools.common.mnist_recipes import REPO, SOLO_CONFIGS

    lines = ['optim_wrapper = dict(optimizer=dict(lr=_base_.optim_wrapper.optimizer.lr * 2))']
    keys = dict(train_cfg=dict(max_epochs=3), custom_imports=dict(imports=['kdcl_mm']))
    monkeypatch.chdir(tmp_path)  # the base is found from anywhere
    path = write_config(str(tmp_path), 'r', SOLO_CONFIGS['resnet18'], 'why', keys, lines)
    assert path == str(tmp_path / 'configs' / 'r.py')
    assert open(path).readline() == '# why\n'
    cfg = Config.fromfile(path, import_custom_modules=False)
    base = Config.fromfile(osp.join(REPO, SOLO_CONFIGS['resnet18']))
    assert cfg.train_cfg == dict(base.train_cfg, max_epochs=3)  # merged, not replaced
    assert cfg.optim_wrapper.optimizer.lr == 2 * base.optim_wrapper.optimizer.lr
    assert cfg.custom_imports.imports == ['kdcl_mm']
