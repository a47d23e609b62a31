"""tools/demo/pipeline.py and run_demo.py: the modes' seeds and steps, the out-dir rule."""

import json
import subprocess
import sys

import pytest

from tools.demo import run_demo
from tools.demo.pipeline import Demo

from .demo_files import STUDENTS


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
        (['--full'], [0, 1, 2, 3, 4], [0, 1, 2, 3, 4], [0, 1], STUDENTS),
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
    assert demo.num_steps == 2 + len(jobs) + len(downstream) * (1 + 4 * len(students))


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
