"""tools/analysis_tools/benchmark/run.py: one quick overhead run measured, its report's structure
and arithmetic (the ratios against the medians, the Markdown rows, the epoch formula) and the
overwrite refusal. No timing is asserted."""

import json
import math
import re

import pytest

import kdcl_mm  # noqa: F401
from kdcl_mm.models.soft_targets import GENERATORS
from tools.analysis_tools.benchmark.report import format_markdown, write_report
from tools.analysis_tools.benchmark.run import run_benchmark
from tools.analysis_tools.benchmark.settings import preset_settings

STUDENTS = ['resnet18', 'mobilenet_v2']


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
def test_quick_report_has_the_lean_mode_loader_and_rss(quick_report):
    report, _, paths, settings = quick_report
    lean = report['lean']
    assert lean['generator'] == settings.generators[0]
    assert lean['ratio'] == pytest.approx(lean['lean']['median_ms'] / lean['default']['median_ms'])
    assert lean['lean']['n'] == settings.rounds * settings.steps_per_round
    modes = report['activation_memory']['modes']
    assert list(modes) == ['default', 'lean'] + [f'{s} alone' for s in STUDENTS]
    assert modes['lean']['allocated_x_largest'] <= 1.1
    assert modes['default']['saved_x_sum'] == pytest.approx(1.0, abs=0.01)
    loader = report['loader']['pipelines']
    assert list(loader) == ['1 view'] + [
        f'{n} views, {w}' for n in (2, 3) for w in ('CPU', 'device')
    ]
    assert 'device_ms_per_image' in loader['3 views, device']
    assert report['peak_rss_mb'] > 0
    assert open(paths['activation_memory.png'], 'rb').read(4) == b'\x89PNG'


@pytest.mark.slow
def test_gpu_check_lean_mode_with_an_injected_memory_measure():
    from tools.analysis_tools.benchmark.run import run_gpu_check

    def fake_peak_memory(arms, batch, device):  # what max_memory_allocated would report
        peaks = {'kdcl/MinLogit': 900.0, 'lean/MinLogit': 600.0}
        return dict(
            kind='fake', arms={a.name: dict(peak_mb=peaks.get(a.name, 500.0)) for a in arms}
        )

    settings = preset_settings('gpu_check', True, precisions=('fp32',))
    report = run_gpu_check(settings, peak_memory=fake_peak_memory)
    for run in report['runs']:
        assert run['status'] == 'ok', run.get('reason')
        assert list(run['arms']) == ['kdcl/MinLogit', 'solo/resnet50', 'solo/mobilenet_v2']
        lean, default = run['lean'], run['arms']['kdcl/MinLogit']
        assert (lean['peak_mb'], lean['memory_ratio']) == (600.0, pytest.approx(2 / 3))
        assert lean['time_ratio'] == pytest.approx(lean['median_ms'] / default['median_ms'])
        assert lean['n'] == settings.rounds * settings.steps_per_round


@pytest.mark.slow
def test_quick_report_has_the_iteration_as_shipped_beside_train_step(quick_report):
    report, _, paths, settings = quick_report
    it = report['iteration']
    assert it['generator'] == 'Linear'  # the MNIST recipe's own
    assert list(it['arms']) == ['kdcl/Linear'] + [f'solo/{s}' for s in STUDENTS]
    for arm, row in it['arms'].items():
        assert row['train_step'] == report['train_step'][arm]  # the same bare arm's times
        assert row['iteration']['n'] == settings.rounds * settings.steps_per_round
        assert row['losses_finite'] is True
        assert row['iteration_over_train_step'] == pytest.approx(
            row['iteration']['median_ms'] / row['train_step']['median_ms']
        )
    alone = sum(it['arms'][f'solo/{s}']['iteration']['median_ms'] for s in STUDENTS)
    assert it['ratio']['iteration'] == pytest.approx(
        it['arms']['kdcl/Linear']['iteration']['median_ms'] / alone
    )
    assert it['ratio']['train_step'] == pytest.approx(report['ratios']['Linear'])
    markdown = open(paths['markdown']).read()
    assert '## Training iteration as shipped (`train_loop.run_iter`)' in markdown
    assert f'iteration as shipped **{it["ratio"]["iteration"]:.3f}**' in markdown
