"""tools/demo/pipeline.py and run_demo.py: the modes' seeds and steps, the out-dir rule,
--report-only on a synthetic demo."""

import json
import os
import os.path as osp
import subprocess
import sys
from collections import Counter
from pathlib import Path

import pytest

from tools.common.sweep import Launcher
from tools.demo import run_demo
from tools.demo.pipeline import Demo
from tools.demo.report_build import build

from .demo_files import STUDENTS, assert_png, write_json


def test_out_dir_with_only_a_plot_is_refused_and_overwrite_removes_only_demo_outputs(tmp_path):
    out = tmp_path / 'demo'
    out.mkdir()
    (out / 'val_curves_resnet18.png').write_bytes(b'old plot')
    (out / 'notes.txt').write_text('mine')
    with pytest.raises(SystemExit, match='val_curves_resnet18.png.*--overwrite'):
        Demo(run_demo.parse_args(['--out-dir', str(out)])).prepare_out_dir()
    assert (out / 'val_curves_resnet18.png').read_bytes() == b'old plot'

    Demo(run_demo.parse_args(['--out-dir', str(out), '--overwrite'])).prepare_out_dir()
    assert sorted(p.name for p in out.iterdir()) == ['notes.txt']


@pytest.mark.parametrize(
    'flags, seeds, ablation, downstream, students',
    [
        ([], [0, 1, 2], [0, 1], [0], ['resnet18']),  # make demo: as measured (19.3 min)
        # Issue 30: downstream on every seed (2 left every downstream interval wide).
        (['--full'], [0, 1, 2, 3, 4], [0, 1, 2, 3, 4], [0, 1, 2, 3, 4], STUDENTS),
        (['--quick'], [0], [], [0], STUDENTS),
        (['--full', '--seeds', '3', '4', '--ablation-seeds'], [3, 4], [], [3, 4], STUDENTS),
    ],
)
def test_modes_set_seeds_ablation_and_downstream(
    flags, seeds, ablation, downstream, students, tmp_path
):
    args = run_demo.parse_args([*flags, '--out-dir', str(tmp_path)])
    assert (args.seeds, args.ablation_seeds) == (seeds, ablation)
    assert (args.downstream_seeds, args.downstream_students) == (downstream, students)
    demo = Demo(args)
    jobs = demo.classification_jobs()
    assert len(jobs) == 3 * len(seeds) + 4 * len(ablation)  # KDCL + 2 solo; 4 other generators
    # data + report, the runs, and per downstream seed: export + 2 tasks x 2 arms per student.
    assert demo.progress.total == 2 + len(jobs) + len(downstream) * (1 + 4 * len(students))
    plan = Counter(demo.plan())
    assert plan['export'] == len(downstream)
    for student in students:  # each downstream run's kind is its run name, over seeds
        assert plan[f'detection_kdcl_{student}'] == plan[f'segmentation_solo_{student}']
        assert plan[f'detection_kdcl_{student}'] == len(downstream)


def test_quick_and_full_are_exclusive(tmp_path):
    with pytest.raises(SystemExit):
        run_demo.parse_args(['--quick', '--full'])


def test_each_mode_has_its_own_default_out_dir(monkeypatch, tmp_path):
    monkeypatch.setenv('KDCL_DEMO_CALLER_DIR', str(tmp_path))
    dirs = {
        flags: run_demo.parse_args(list(flags)).out_dir for flags in [(), ('--quick',), ('--full',)]
    }
    assert dirs == {
        (): str(tmp_path / 'work_dirs' / 'demo'),
        ('--quick',): str(tmp_path / 'work_dirs' / 'demo_quick'),
        ('--full',): str(tmp_path / 'work_dirs' / 'demo_full'),
    }


def _make_demo_call(repo_root, tmp_path, target, *variables):
    """What `make TARGET` hands the demo: its arguments and the refusal's fix. The target runs
    (its install prerequisite skipped) with a stand-in python that records them."""
    record = tmp_path / f'{target}.json'
    python = tmp_path / 'python'
    python.write_text(
        f'#!{sys.executable}\n'
        'import json, os, sys\n'
        f'json.dump(dict(argv=sys.argv[1:], fix=os.environ.get("KDCL_OVERWRITE_FIX")), '
        f'open({str(record)!r}, "w"))\n'
    )
    python.chmod(0o755)
    subprocess.run(
        ['make', '-s', '-C', str(repo_root), '-o', 'install', target, f'KDCL_PYTHON={python}']
        + list(variables),
        check=True,
        capture_output=True,
    )
    call = json.loads(record.read_text())
    assert call['argv'][:2] == ['-m', 'tools.demo.run_demo']
    return call['argv'][2:], call['fix']


@pytest.mark.parametrize(
    'target, mode_flags', [('demo', []), ('demo-quick', ['--quick']), ('demo-full', ['--full'])]
)
def test_make_targets_pass_no_out_dir_and_their_refusal_names_the_make_fix(
    repo_root, target, mode_flags, monkeypatch, tmp_path
):
    args, fix = _make_demo_call(repo_root, tmp_path, target)
    assert args == mode_flags  # so each mode's own folder: demo-quick never blocks demo
    monkeypatch.setenv('KDCL_OVERWRITE_FIX', fix)
    out = tmp_path / 'demo'
    out.mkdir()
    (out / 'report.md').write_text('an earlier run')
    with pytest.raises(SystemExit, match=rf'run `make {target} OVERWRITE=1` to replace them'):
        Demo(run_demo.parse_args([*mode_flags, '--out-dir', str(out)])).prepare_out_dir()

    args, _ = _make_demo_call(repo_root, tmp_path, target, 'OVERWRITE=1')
    assert args == [*mode_flags, '--overwrite'] or args == ['--overwrite', *mode_flags]


def test_full_mode_summary_states_its_downstream_seeds():
    assert 'both students downstream on all of them' in run_demo.MODES['full'].summary


@pytest.fixture
def earlier_demo(synthetic_demo, monkeypatch):
    """The synthetic demo's runs and manifest.json in its out-dir, and no way to train."""
    root, manifest = synthetic_demo
    write_json(osp.join(root, 'manifest.json'), manifest)

    def no_training(*args, **kwargs):
        raise AssertionError('--report-only ran a tool')

    monkeypatch.setattr(Launcher, 'spawn', no_training)
    monkeypatch.setattr(Demo, '__call__', no_training)
    monkeypatch.delenv('KDCL_OVERWRITE_FIX', raising=False)
    return root, manifest


def _tree(root):
    """Every file under ``root`` but the report's, with its content."""
    report = {'report.json', 'report.md'}
    return {
        osp.relpath(osp.join(d, f), root): Path(d, f).read_bytes()
        for d, _, files in os.walk(root)
        for f in files
        if f not in report and not f.endswith('.png')
    }


def test_report_only_rebuilds_the_report_from_the_runs_and_trains_nothing(earlier_demo):
    root, manifest = earlier_demo
    runs = _tree(root)
    run_demo.main(['--full', '--report-only', '--out-dir', root])
    with open(osp.join(root, 'report.json')) as f:
        report = json.load(f)
    assert report == json.loads(json.dumps(build(manifest, root)[0]))
    assert set(report['plots']) == {
        'val_curves/resnet18',
        'val_curves/mobilenet_v2',
        'downstream_differences',
    }
    for name in report['plots'].values():
        assert_png(osp.join(root, name))
    assert 'segmentation, resnet18 backbone (mIoU)' in Path(root, 'report.md').read_text()
    assert _tree(root) == runs  # the runs and the manifest as they were


def test_report_only_refuses_an_earlier_report_and_overwrite_replaces_all_of_it(earlier_demo):
    root, _ = earlier_demo
    run_demo.main(['--report-only', '--out-dir', root])
    for name in ('report.md', 'val_curves_resnet18.png'):
        with open(osp.join(root, name), 'w') as f:
            f.write('earlier')
    stale = osp.join(root, 'general_weights.png')  # a figure the runs no longer give
    with open(stale, 'w') as f:
        f.write('earlier')
    with pytest.raises(SystemExit, match=r'already holds a report: refusing .*--overwrite'):
        run_demo.main(['--report-only', '--out-dir', root])
    assert Path(root, 'report.md').read_text() == 'earlier'

    run_demo.main(['--report-only', '--out-dir', root, '--overwrite'])
    assert Path(root, 'report.md').read_text().startswith('# KDCL demo report')
    assert_png(osp.join(root, 'val_curves_resnet18.png'))
    assert not osp.exists(stale)


def test_report_only_that_cannot_build_keeps_the_earlier_report(earlier_demo):
    root, manifest = earlier_demo
    with open(osp.join(root, 'report.md'), 'w') as f:
        f.write('earlier')
    os.remove(osp.join(root, manifest['runs'][0]['test_metrics']))
    with pytest.raises(FileNotFoundError, match='test step'):
        run_demo.main(['--report-only', '--out-dir', root, '--overwrite'])
    assert Path(root, 'report.md').read_text() == 'earlier'


def test_report_only_needs_a_manifest_and_takes_no_run_selection(tmp_path, capsys):
    with pytest.raises(SystemExit, match=r'--report-only needs .*manifest\.json'):
        run_demo.main(['--report-only', '--out-dir', str(tmp_path)])
    with pytest.raises(SystemExit):
        run_demo.parse_args(['--report-only', '--seeds', '0', '--downstream-students', 'resnet18'])
    assert '--seeds, --downstream-students cannot change them' in capsys.readouterr().err


def _finished_demo_dir(root):
    """An out-dir as an interrupted demo leaves it: a finished run, an export, no report."""
    run = root / 'runs' / 'kdcl_Linear' / 'seed0'
    run.mkdir(parents=True)
    (run / 'epoch_30.pth').write_bytes(b'checkpoint')
    (run / 'last_checkpoint').write_text(str(run / 'epoch_30.pth'))
    export = root / 'students' / 'kdcl_Linear' / 'seed0'
    export.mkdir(parents=True)
    (export / 'resnet18.pth').write_bytes(b'an export')
    return run


def test_resume_keeps_the_runs_and_refuses_an_earlier_report_unless_overwrite(tmp_path):
    out = tmp_path / 'demo'
    run = _finished_demo_dir(out)
    with pytest.raises(SystemExit, match=r'--overwrite to replace them, --resume to go on'):
        Demo(run_demo.parse_args(['--out-dir', str(out)])).prepare_out_dir()

    demo = Demo(run_demo.parse_args(['--out-dir', str(out), '--resume']))
    demo.prepare_out_dir()
    assert (run / 'last_checkpoint').is_file() and demo.replacing == []

    (out / 'report.md').write_text('an earlier report')
    with pytest.raises(SystemExit, match='already holds a report'):
        Demo(run_demo.parse_args(['--out-dir', str(out), '--resume'])).prepare_out_dir()
    demo = Demo(run_demo.parse_args(['--out-dir', str(out), '--resume', '--overwrite']))
    demo.prepare_out_dir()
    # Replaced once the new report is built, not before; the runs stay.
    assert demo.replacing == [str(out / 'report.md')]
    assert (out / 'report.md').read_text() == 'an earlier report'
    assert (run / 'last_checkpoint').is_file()


@pytest.mark.parametrize('resume', [False, True])
def test_export_replaces_an_earlier_export_only_when_resuming(tmp_path, monkeypatch, resume):
    out = tmp_path / 'demo'
    _finished_demo_dir(out)
    demo = Demo(run_demo.parse_args(['--out-dir', str(out)] + ['--resume'] * resume))
    commands = []
    monkeypatch.setattr(demo.launcher, 'run', lambda cmd, log: commands.append(cmd) or 0.0)
    exported = demo.export(0)
    assert exported['resnet18'] == str(out / 'students' / 'kdcl_Linear' / 'seed0' / 'resnet18.pth')
    [cmd] = commands
    assert cmd[:2] == ['tools/export_students.py', str(out / 'runs/kdcl_Linear/seed0/epoch_30.pth')]
    assert ('--overwrite' in cmd) == resume


def test_resume_and_report_only_are_exclusive(tmp_path):
    with pytest.raises(SystemExit):
        run_demo.parse_args(['--resume', '--report-only', '--out-dir', str(tmp_path)])
