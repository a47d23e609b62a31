import json
import math
import os.path as osp
import re
import subprocess
import sys

import pytest

import kdcl_mm  # noqa: F401
from tests.paths import REPO as ROOT
from tools.analysis_tools.benchmark import (
    GENERATORS,
    BenchmarkSettings,
    format_markdown,
    ms_summary,
    overhead_ratios,
    paired_ratios,
    preset_settings,
    run_benchmark,
    single_view_pipeline,
    write_report,
)

STUDENTS = ['resnet18', 'mobilenet_v2']


def test_summarise_gives_median_and_quartiles_in_ms():
    stats = ms_summary([0.004, 0.001, 0.003, 0.002])
    # numpy's linear interpolation on [1, 2, 3, 4] ms: quartiles at 1.75 and 3.25.
    assert stats == dict(
        median_ms=pytest.approx(2.5),
        q1_ms=pytest.approx(1.75),
        q3_ms=pytest.approx(3.25),
        iqr_ms=pytest.approx(1.5),
        n=4,
    )


def test_ratio_divides_kdcl_by_the_sum_of_students_alone():
    stats = {
        'kdcl/Mean': dict(median_ms=33.0),
        'kdcl/Linear': dict(median_ms=36.0),
        'solo/a': dict(median_ms=10.0),
        'solo/b': dict(median_ms=20.0),
    }
    ratios = overhead_ratios(stats, ['Mean', 'Linear'], ['a', 'b'])
    assert ratios == pytest.approx({'Mean': 1.1, 'Linear': 1.2})


def test_paired_ratios_use_each_rounds_medians():
    times = {'kdcl/Mean': [1, 3, 2, 2], 'solo/a': [1, 1, 0.5, 0.5], 'solo/b': [1, 1, 0.5, 1.5]}
    # Round medians: KDCL (2, 2), Σ alone (2, 1.5): ratios 1 and 4/3.
    paired = paired_ratios(times, ['Mean'], ['a', 'b'], rounds=2)
    assert paired['Mean'] == pytest.approx(dict(median=7 / 6, q1=13 / 12, q3=5 / 4))


def test_single_view_pipeline_unwraps_multiview():
    distortion = [dict(type='Resize', scale=(64, 64)), dict(type='RandomCrop', crop_size=64)]
    pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='MultiView', num_views=2, transforms=[distortion]),
        dict(type='PackInputs'),
    ]
    assert single_view_pipeline(pipeline) == [pipeline[0], *distortion, pipeline[2]]


@pytest.mark.parametrize(
    'field, value, error, match',
    [
        ('generators', ('Mean', 'Best'), ValueError, 'Best'),
        ('rounds', 0, ValueError, 'rounds'),
        ('heldout_ratio', 1.5, ValueError, 'heldout_ratio'),
        ('config', 'no/such/config.py', FileNotFoundError, 'no/such/config.py'),
    ],
)
def test_bad_settings_are_named(field, value, error, match):
    settings = preset_settings('small', quick=True, **{field: value})
    with pytest.raises(error, match=re.escape(match)):
        settings.check()


def test_amp_without_cuda_is_refused():
    import torch

    if torch.cuda.is_available():
        pytest.skip('this machine has CUDA')
    with pytest.raises(ValueError, match='need CUDA'):
        preset_settings('small', quick=True, amp='float16').check()


@pytest.fixture(scope='module')
def quick_report(tmp_path_factory):
    # Targets only where asked (--ratio-target): one per generator, so that the target
    # rows are checked below.
    settings = preset_settings(
        'small', quick=True, threads=1, ratio_targets={g: 1.03 for g in GENERATORS}
    )
    report = run_benchmark(settings)
    out_dir = tmp_path_factory.mktemp('bench')
    paths = write_report(report, str(out_dir))
    return report, out_dir, paths, settings


@pytest.mark.slow
def test_quick_report_is_well_formed(quick_report):
    report, _, paths, settings = quick_report
    with open(paths['json']) as f:
        saved = json.load(f)
    assert set(saved) >= {
        'settings',
        'machine',
        'load_average_before',
        'load_average_after',
        'load_average_1min_per_round',
        'students',
        'generators',
        'train_step',
        'ratios',
        'paired_ratios',
        'memory',
        'pipeline',
        'general_estimate',
        'targets',
    }
    assert len(saved['load_average_1min_per_round']) == settings.rounds
    assert saved['students'] == STUDENTS
    arms = [f'kdcl/{g}' for g in GENERATORS] + [f'solo/{s}' for s in STUDENTS]
    assert list(saved['train_step']) == arms
    timed_steps = settings.rounds * settings.steps_per_round
    for arm, stats in saved['train_step'].items():
        assert stats['median_ms'] > 0, arm
        assert stats['q1_ms'] <= stats['median_ms'] <= stats['q3_ms']
        assert stats['n'] == timed_steps
        assert saved['memory']['arms'][arm]['peak_mb'] > 0


@pytest.mark.slow
def test_ratios_are_computed_from_the_medians(quick_report):
    report, _, paths, _ = quick_report
    with open(paths['json']) as f:
        saved = json.load(f)
    steps = saved['train_step']
    solo = steps['solo/resnet18']['median_ms'] + steps['solo/mobilenet_v2']['median_ms']
    assert set(saved['ratios']) == set(GENERATORS)
    for g, ratio in saved['ratios'].items():
        assert ratio == pytest.approx(steps[f'kdcl/{g}']['median_ms'] / solo, rel=1e-12)
    for target, met in saved['targets'].items():
        g = target.split()[1]
        if target.startswith('ratio '):
            assert met == (saved['ratios'][g] <= float(target.split('<=')[1]))


@pytest.mark.slow
def test_pipeline_and_general_sections(quick_report):
    report, _, _, settings = quick_report
    p = report['pipeline']
    for name in ('multi_view', 'single_view'):
        assert p[name]['median_ms'] > 0
        assert p[name]['images_per_s'] == pytest.approx(
            settings.batch_size / (p[name]['median_ms'] / 1e3)
        )
    g = report['general_estimate']
    # The embedded MNIST recipe trains on 300 digits: 5% is 15 held out, 285 trained on.
    assert (g['heldout_samples'], g['train_samples']) == (15, 285)
    assert g['batches_per_epoch'] == math.ceil(285 / settings.batch_size)
    assert g['fraction'] == pytest.approx(g['estimate']['median_ms'] / g['epoch_ms'])
    # Quick mode has no workers: the epoch includes the multi-view pipeline's time.
    assert g['epoch_ms'] == pytest.approx(
        g['batches_per_epoch']
        * (report['train_step']['kdcl/General']['median_ms'] + p['multi_view']['median_ms'])
    )


@pytest.mark.slow
def test_markdown_has_a_row_per_generator(quick_report):
    report, _, paths, _ = quick_report
    with open(paths['markdown']) as f:
        markdown = f.read()
    assert markdown == format_markdown(report)
    for g in GENERATORS:
        row = re.search(rf'^\| kdcl/{g} \| ([\d.]+) \| ([\d.]+) \| ([\d.]+) \|', markdown, re.M)
        assert row, g
        assert float(row.group(1)) == pytest.approx(
            report['train_step'][f'kdcl/{g}']['median_ms'], abs=0.05
        )
        assert float(row.group(3)) == pytest.approx(report['ratios'][g], abs=5e-4)
    for s in STUDENTS:
        assert re.search(rf'^\| solo/{s} \| [\d.]+ \|', markdown, re.M)


@pytest.mark.slow
def test_report_refuses_to_overwrite(quick_report):
    report, out_dir, paths, _ = quick_report
    with pytest.raises(FileExistsError, match='--overwrite'):
        write_report(report, str(out_dir))
    assert write_report(report, str(out_dir), overwrite=True) == paths


@pytest.mark.slow
def test_cli_refuses_an_existing_report_before_measuring(tmp_path):
    (tmp_path / 'benchmark.json').write_text('{}')
    result = subprocess.run(
        [
            sys.executable,
            '-m',
            'tools.analysis_tools.benchmark_kdcl',
            '--quick',
            '--out-dir',
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=300,
    )
    assert result.returncode != 0
    assert '--overwrite' in result.stderr
    assert (tmp_path / 'benchmark.json').read_text() == '{}'


def test_settings_default_to_the_mnist_recipe():
    settings = preset_settings('small')
    assert isinstance(settings, BenchmarkSettings)
    assert osp.basename(settings.config) == 'resnet18-w16_mbv2-w0.5_mnist.py'
    assert osp.isfile(settings.config)
