"""The embedded demo: report builder on synthetic run outputs (exact numbers), and the quick
chain end to end as CI runs it."""

import json
import os
import os.path as osp
import subprocess
import sys

import matplotlib.image
import pytest

from tests.paths import REPO
from tools.common.scalars import load_scalars, metric_curve
from tools.demo import run_demo
from tools.demo.comparison import compare, summarize
from tools.demo.pipeline import Demo
from tools.demo.report_data import build_report
from tools.demo.report_files import write_report
from tools.demo.report_markdown import render_markdown

PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
STUDENTS = ['resnet18', 'mobilenet_v2']


def write_lines(path, records):
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write('\n'.join(json.dumps(r) for r in records) + '\n')


def write_json(path, obj):
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(obj, f)


def assert_tables_well_formed(markdown):
    """Every markdown table: a header, a separator of as many columns, rows of as many cells."""
    tables, current = [], []
    for line in markdown.split('\n') + ['']:
        if line.startswith('|'):
            current.append(line)
        elif current:
            tables.append(current)
            current = []
    assert tables
    for table in tables:
        widths = {line.count('|') for line in table}
        assert len(widths) == 1, table
        assert set(table[1].replace('|', '').replace('-', '')) == set(), table
    return tables


def assert_png(path):
    with open(path, 'rb') as f:
        assert f.read(8) == PNG_SIGNATURE
    height, width = matplotlib.image.imread(path).shape[:2]
    assert height > 100 and width > 100


# ------------------------------------------------------------------ statistics
def test_summarize_gives_mean_and_sample_std():
    stats = summarize({2: 94.0, 0: 90.0, 1: 92.0})
    assert stats['mean'] == pytest.approx(92.0)
    assert stats['std'] == pytest.approx(2.0)  # sqrt((4 + 0 + 4) / 2)
    assert stats['n'] == 3 and list(stats['per_seed']) == ['0', '1', '2']
    single = summarize({5: 80.0})
    assert single['mean'] == 80.0 and single['std'] is None


@pytest.mark.parametrize(
    'kdcl, verdict, higher',
    [
        ({0: 91.0, 1: 95.0}, 'higher', 2),
        ({0: 89.0, 1: 93.0}, 'lower', 0),
        # Issue 15: 'higher'/'lower' only when the paired 95 % interval excludes 0; a 2-seed
        # interval of differences that disagree includes 0 (was 'mixed' under the sign rule).
        ({0: 91.0, 1: 93.0}, 'inconclusive', 1),
        ({0: 90.0, 1: 94.0}, 'same', 0),
        ({0: 90.0, 1: 95.0}, 'inconclusive', 1),  # a tie is not a win
    ],
)
def test_compare_pairs_seeds_and_states_a_verdict(kdcl, verdict, higher):
    result = compare(kdcl, {0: 90.0, 1: 94.0, 7: 50.0})  # seed 7: no KDCL run, ignored
    assert result['seeds'] == [0, 1]
    assert result['verdict'] == verdict and result['kdcl_higher_in'] == higher
    deltas = [kdcl[0] - 90.0, kdcl[1] - 94.0]
    assert result['delta']['mean'] == pytest.approx(sum(deltas) / 2)


def test_compare_without_common_seeds_is_not_measured():
    assert compare({0: 1.0}, {1: 1.0})['verdict'] == 'none'


T_975_DF2 = 4.302652729911275


def test_compare_verdict_follows_the_paired_interval_not_the_seed_count():
    solo = {0: 90.0, 1: 90.0, 2: 90.0}
    # Differences +1, +2, +3: interval 2 ± 4.3027 / sqrt(3) = [-0.48, 4.48] includes 0, although
    # KDCL is higher in 3/3 seeds.
    result = compare({0: 91.0, 1: 92.0, 2: 93.0}, solo)
    assert result['kdcl_higher_in'] == 3 and result['verdict'] == 'inconclusive'
    half = T_975_DF2 / 3**0.5
    assert result['interval']['low'] == pytest.approx(2.0 - half, rel=1e-9)
    assert result['interval']['high'] == pytest.approx(2.0 + half, rel=1e-9)
    assert result['sign_test_p'] == pytest.approx(0.25)  # 2 * (1/2)^3
    # Differences +3, +4, +5: interval 4 ± 2.48 = [1.52, 6.48] lies above 0.
    assert compare({0: 93.0, 1: 94.0, 2: 95.0}, solo)['verdict'] == 'higher'
    assert compare({0: 87.0, 1: 86.0, 2: 85.0}, solo)['verdict'] == 'lower'
    assert compare({0: 93.0}, solo)['verdict'] == 'inconclusive'  # one seed: no interval


# ------------------------------------------------------------------ scalars.json
def test_metric_curve_reads_val_records_and_keeps_the_latest_per_epoch(tmp_path):
    path = str(tmp_path / 'scalars.json')
    write_lines(
        path,
        [
            dict(lr=0.1, loss=2.3, epoch=1, iter=10, step=10),
            {'resnet18/top1': 50.0, 'ensemble/top1': 55.0, 'step': 1},
            dict(lr=0.1, loss=1.3, epoch=2, iter=20, step=20),
            {'resnet18/top1': 60.0, 'step': 2},
            {'resnet18/top1': 61.0, 'step': 2},  # a resumed run re-validates epoch 2
            {'resnet18/top1': 70.0, 'step': 3},
        ],
    )
    records = load_scalars(path)
    assert metric_curve(records, 'resnet18/top1') == ([1, 2, 3], [50.0, 61.0, 70.0])
    assert metric_curve(records, 'ensemble/top1') == ([1], [55.0])
    assert metric_curve(records, 'accuracy/top1') == ([], [])
    assert metric_curve(records, 'loss', x='epoch') == ([1, 2], [2.3, 1.3])


def test_load_scalars_names_the_bad_line(tmp_path):
    path = tmp_path / 'scalars.json'
    path.write_text('{"step": 1}\nnot json\n')
    with pytest.raises(ValueError, match='line 2'):
        load_scalars(str(path))


# ------------------------------------------------------------------ report builder
# Per seed: solo test top-1, KDCL (Mean) test top-1, and downstream numbers.
SOLO = {'resnet18': {0: 90.0, 1: 92.0}, 'mobilenet_v2': {0: 85.0, 1: 88.0}}
MEAN = {
    'resnet18': {0: 91.0, 1: 94.0},
    'mobilenet_v2': {0: 84.0, 1: 87.0},
    'ensemble': {0: 93.0, 1: 95.0},
}
NAIVE = {'resnet18': {0: 89.0}, 'mobilenet_v2': {0: 86.0}, 'ensemble': {0: 90.0}}
MAP = {'kdcl': {0: 0.25, 1: 0.31}, 'solo': {0: 0.20, 1: 0.32}}  # COCO metric: fractions
MIOU = {'kdcl': {0: 40.0, 1: 44.0}, 'solo': {0: 30.0, 1: 34.0}}  # mmseg metric: percent


def val_records(final):
    """Three epochs of validation climbing to ``final`` for every key in it."""
    return [
        {k: v - 10.0 * (3 - epoch) for k, v in final.items()} | {'step': epoch}
        for epoch in (1, 2, 3)
    ]


@pytest.fixture
def synthetic_demo(tmp_path):
    root = str(tmp_path)
    runs = []

    def add(name, seed, metrics, scalars=None, **run):
        work = f'runs/{name}/seed{seed}'
        write_json(osp.join(root, work, 'test_metrics.json'), metrics)
        if scalars is not None:
            write_lines(osp.join(root, work, '20260101_000000/vis_data/scalars.json'), scalars)
        runs.append(
            dict(
                run,
                seed=seed,
                test_metrics=f'{work}/test_metrics.json',
                scalars=scalars and f'{work}/20260101_000000/vis_data/scalars.json',
            )
        )

    for gen, table in (('Mean', MEAN), ('Naive', NAIVE)):
        for seed in table['resnet18']:
            metrics = {f'{k}/top1': v[seed] for k, v in table.items()}
            add(f'kdcl_{gen}', seed, metrics, val_records(metrics), kind='kdcl', generator=gen)
    for student, per_seed in SOLO.items():
        for seed, acc in per_seed.items():
            metrics = {'accuracy/top1': acc}
            add(
                f'solo_{student}', seed, metrics, val_records(metrics), kind='solo', student=student
            )
    for arm in ('kdcl', 'solo'):
        for seed in (0, 1):
            add(
                f'detection_{arm}',
                seed,
                {'coco/bbox_mAP': MAP[arm][seed], 'coco/bbox_AP50': 0.5},
                kind='detection',
                backbone=arm,
                student='resnet18',
            )
            add(
                f'segmentation_{arm}',
                seed,
                {'mIoU': MIOU[arm][seed], 'aAcc': 90.0},
                kind='segmentation',
                backbone=arm,
                student='resnet18',
            )
    manifest = dict(
        mode='full',
        command='bash tools/run_demo.sh',
        students=STUDENTS,
        main_generator='Mean',
        runs=runs,
        recipe=dict(num_labeled=300, epochs=3),
        machine=dict(description='test machine'),
        timings=dict(steps=[dict(name='a', wall_s=2.0, cpu_s=3.0)], wall_s=2.0, cpu_s=3.0),
    )
    return root, manifest


def test_report_numbers_come_from_the_runs(synthetic_demo):
    root, manifest = synthetic_demo
    report = build_report(manifest, root)
    cls = report['classification']
    assert cls['solo']['resnet18']['mean'] == pytest.approx(91.0)
    assert cls['kdcl']['resnet18']['mean'] == pytest.approx(92.5)
    assert cls['kdcl']['ensemble']['per_seed'] == {'0': 93.0, '1': 95.0}
    # resnet18: +1, +2 in both seeds; mobilenet_v2: -1, -1. Issue 15: the 2-seed interval of
    # +1, +2 is 1.5 ± 12.706 * 0.7071 / sqrt(2) = [-4.85, 7.85], which includes 0 (was
    # 'higher' under the all-seeds-higher rule).
    assert cls['comparison']['resnet18']['verdict'] == 'inconclusive'
    assert cls['comparison']['resnet18']['interval']['low'] == pytest.approx(
        1.5 - 6.353102, abs=1e-5
    )
    assert cls['comparison']['resnet18']['delta']['mean'] == pytest.approx(1.5)
    assert cls['comparison']['mobilenet_v2']['verdict'] == 'lower'
    assert cls['comparison']['mobilenet_v2']['delta']['std'] == pytest.approx(0.0)
    assert sorted(cls['generators']) == ['Mean', 'Naive']
    assert cls['generators']['Naive']['mobilenet_v2']['per_seed'] == {'0': 86.0}
    # One seed (+1) gives no interval (was 'higher' under the all-seeds-higher rule).
    assert cls['generator_comparison']['Naive']['mobilenet_v2']['verdict'] == 'inconclusive'
    assert cls['generator_comparison']['Naive']['mobilenet_v2']['kdcl_higher_in'] == 1

    det = report['downstream']['detection']['resnet18']
    assert det['metric'] == 'bbox mAP'
    assert det['kdcl']['per_seed'] == pytest.approx({'0': 25.0, '1': 31.0})  # percent
    assert det['comparison']['verdict'] == 'inconclusive'  # +5, -1 (was 'mixed')
    assert det['comparison']['delta']['mean'] == pytest.approx(2.0)
    seg = report['downstream']['segmentation']['resnet18']
    assert seg['comparison']['verdict'] == 'higher'
    assert seg['solo']['mean'] == pytest.approx(32.0)
    assert report['seeds'] == [0, 1] and report['meaningful'] and report['note'] is None


def test_report_files_markdown_and_plots(synthetic_demo):
    root, manifest = synthetic_demo
    paths = write_report(manifest, root)
    with open(paths['json']) as f:
        report = json.load(f)
    assert set(report['plots']) == {'val_curves/resnet18', 'val_curves/mobilenet_v2'}
    for name in report['plots'].values():
        assert_png(osp.join(root, name))
    with open(paths['markdown']) as f:
        markdown = f.read()
    # Issue 15 added the 95 % interval and sign test columns and the interval verdict.
    assert (
        '| resnet18 | 91.00 ± 1.41 | 92.50 ± 2.12 | +1.50 ± 0.71 | [-4.85, +7.85] | 0.5 | '
        'inconclusive (KDCL higher in 2/2 seeds) |' in markdown
    )
    assert (
        '| mobilenet_v2 | 86.50 ± 2.12 | 85.50 ± 2.12 | -1.00 ± 0.00 | [-1.00, -1.00] | 0.5 | '
        'lower (KDCL higher in 0/2 seeds) |' in markdown
    )
    assert (
        '| detection | resnet18 | bbox mAP | 26.00 ± 8.49 | 28.00 ± 4.24 | +2.00 ± 4.24 | '
        '[-36.12, +40.12] | 1 | inconclusive (KDCL higher in 1/2 seeds) |' in markdown
    )
    assert '| Naive | 89.00 | 86.00 | 90.00 | 1 |' in markdown
    assert 'KDCL did NOT beat solo training' in markdown
    assert 'QUICK RUN' not in markdown
    assert len(assert_tables_well_formed(markdown)) == 5  # students, generators, downstream,
    # per seed, timings


def test_quick_report_says_numbers_are_not_meaningful(synthetic_demo):
    root, manifest = synthetic_demo
    manifest['mode'] = 'quick'
    report = build_report(manifest, root)
    assert report['meaningful'] is False and 'NOT meaningful' in report['note']
    assert 'QUICK RUN' in render_markdown(report).split('\n')[2]


def test_general_weights_are_plotted_when_logged(synthetic_demo):
    root, manifest = synthetic_demo
    scalars = 'runs/kdcl_General/seed0/scalars.json'
    write_lines(
        osp.join(root, scalars),
        [
            {
                'general_weight/resnet18': 0.6,
                'general_weight/mobilenet_v2': 0.4,
                'epoch': 1,
                'step': 10,
            },
            {
                'general_weight/resnet18': 0.7,
                'general_weight/mobilenet_v2': 0.3,
                'epoch': 2,
                'step': 20,
            },
            *val_records({'resnet18/top1': 90.0, 'mobilenet_v2/top1': 85.0}),
        ],
    )
    write_json(
        osp.join(root, 'runs/kdcl_General/seed0/test_metrics.json'),
        {'resnet18/top1': 90.0, 'mobilenet_v2/top1': 85.0, 'ensemble/top1': 91.0},
    )
    manifest['runs'].append(
        dict(
            kind='kdcl',
            generator='General',
            seed=0,
            scalars=scalars,
            test_metrics='runs/kdcl_General/seed0/test_metrics.json',
        )
    )
    report = build_report(manifest, root)
    assert report['plots']['general_weights'] == 'general_weights.png'
    assert_png(osp.join(root, 'general_weights.png'))


def test_detector_without_any_box_counts_as_zero_map(synthetic_demo):
    root, manifest = synthetic_demo
    run = next(
        r
        for r in manifest['runs']
        if r['kind'] == 'detection' and r['backbone'] == 'solo' and r['seed'] == 1
    )
    write_json(osp.join(root, run['test_metrics']), {})  # what mmdet's CocoMetric returns
    report = build_report(manifest, root)
    det = report['downstream']['detection']['resnet18']
    assert det['solo']['per_seed'] == pytest.approx({'0': 20.0, '1': 0.0})
    assert det['no_detections'] == {'solo': [1]}
    assert 'counted as mAP 0' in render_markdown(report)


def test_missing_test_metrics_is_a_clear_error(synthetic_demo):
    root, manifest = synthetic_demo
    os.remove(osp.join(root, manifest['runs'][0]['test_metrics']))
    with pytest.raises(FileNotFoundError, match='test step'):
        build_report(manifest, root)


def test_main_generator_must_have_run(synthetic_demo):
    root, manifest = synthetic_demo
    manifest['main_generator'] = 'MinLogit'
    with pytest.raises(ValueError, match='main_generator'):
        build_report(manifest, root)


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


# ------------------------------------------------------------------ the chain, as CI runs it
@pytest.mark.slow
def test_quick_chain_writes_a_well_formed_report(tmp_path):
    out_dir, data_dir = tmp_path / 'demo', tmp_path / 'mnist_coco'
    cmd = [
        'bash',
        osp.join(REPO, 'tools', 'run_demo.sh'),
        '--quick',
        '--out-dir',
        str(out_dir),
        '--data-dir',
        str(data_dir),
    ]
    env = dict(os.environ, PYTHON=sys.executable)
    done = subprocess.run(cmd, cwd=str(tmp_path), env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert '[demo 1/' in done.stdout  # progress is announced

    with open(out_dir / 'report.json') as f:
        report = json.load(f)
    assert report['mode'] == 'quick' and report['meaningful'] is False
    assert report['students'] == STUDENTS and report['seeds'] == [0]
    cls = report['classification']
    for arm, names in (('solo', STUDENTS), ('kdcl', STUDENTS + ['ensemble'])):
        for name in names:
            assert cls[arm][name]['n'] == 1
            assert 0.0 <= cls[arm][name]['mean'] <= 100.0
    for name in STUDENTS:
        # 3 quick epochs can leave both arms at the same accuracy: 'same' is a verdict too.
        # One seed has no interval: 'inconclusive' (issue 15; was 'higher'/'lower'/'mixed').
        assert cls['comparison'][name]['verdict'] in ('inconclusive', 'same')
    assert list(cls['generators']) == [report['main_generator']]  # no ablation in quick mode
    for task in ('detection', 'segmentation'):
        result = report['downstream'][task]['resnet18']
        for arm in ('kdcl', 'solo'):
            assert 0.0 <= result[arm]['mean'] <= 100.0
        # Issue 15: quick mode also takes the MobileNetV2 student downstream.
        assert 0.0 <= report['downstream'][task]['mobilenet_v2']['kdcl']['mean'] <= 100.0
    assert report['downstream_students'] == STUDENTS
    assert set(report['plots']) == {'val_curves/resnet18', 'val_curves/mobilenet_v2'}
    for name in report['plots'].values():
        assert_png(out_dir / name)
    markdown = (out_dir / 'report.md').read_text()
    assert 'QUICK RUN' in markdown and '| student | solo | KDCL |' in markdown
    assert_tables_well_formed(markdown)
    assert (
        out_dir / 'students' / f'kdcl_{report["main_generator"]}' / 'seed0' / 'resnet18.pth'
    ).is_file()

    again = subprocess.run(cmd, cwd=str(tmp_path), env=env, capture_output=True, text=True)
    assert again.returncode != 0 and '--overwrite' in again.stderr
