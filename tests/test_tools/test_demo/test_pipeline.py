"""tools/demo/pipeline.py and run_demo.py: the modes' seeds and steps, the out-dir rule."""

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
