"""tools/demo/sweep.py: what a job runs (train, then test its last checkpoint), skip-if-finished,
and the progress count, with the launcher replaced by a fake that writes what the tools would."""

import os
import os.path as osp

from tools.demo.sweep import Job, Launcher, Progress, Sweep, write_config


class FakeTools:
    """Launcher.run: records each command and leaves what tools/train.py / test.py leave."""

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
        return 2.0


def sweep_with_fake(tmp_path, monkeypatch, progress=None):
    fake = FakeTools()
    monkeypatch.setattr(Launcher, 'run', lambda self, cmd, log: fake(cmd, log))
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


def test_a_fixed_total_is_kept(tmp_path, monkeypatch):
    sweep, _, progress = sweep_with_fake(tmp_path, monkeypatch, Progress('demo', 7))
    sweep.run([Job('a', 'kdcl', 'c.py', 0)])
    assert (progress.total, progress.done) == (7, 1)


def test_a_written_config_inherits_its_base_from_the_repository_root(tmp_path, monkeypatch):
    from mmengine.config import Config

    from tools.demo.settings import REPO, SOLO_CONFIGS

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
