"""The benchmark's scripts as CI runs them: the benchmark CLI refuses an earlier report before
measuring, and the GPU check's dry mode passes end to end on CPU through gpu_check.sh."""

import json
import os
import os.path as osp
import subprocess
import sys

import pytest

from tests.paths import REPO as ROOT
from tools.analysis_tools.benchmark.report import format_gpu_check

ARMS = ['kdcl/MinLogit', 'solo/resnet50', 'solo/mobilenet_v2']


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


@pytest.fixture(scope='module')
def dry_run(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp('gpu_check')
    env = dict(
        os.environ, PYTHON=sys.executable, OMP_NUM_THREADS='1', CUDA_VISIBLE_DEVICES=''
    )  # the dry mode is the CPU path, also on a GPU machine
    result = subprocess.run(
        [
            'bash',
            osp.join(ROOT, 'tools/analysis_tools/gpu_check.sh'),
            '--dry',
            '--out-dir',
            str(out_dir),
        ],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=600,
    )
    return result, out_dir


def test_dry_run_passes_and_reports_every_mode(dry_run):
    result, out_dir = dry_run
    assert result.returncode == 0, result.stderr[-3000:]
    report = json.loads((out_dir / 'gpu_check.json').read_text())
    assert report['passed'] is True
    assert report['settings']['device'] == 'cpu'
    assert (report['settings']['batch_size'], report['settings']['image_size']) == (4, 32)
    modes = [(r['mode'], r['channels_last']) for r in report['runs']]
    assert modes == [(m, cl) for m in ('fp32', 'fp16', 'bf16') for cl in (False, True)]
    for run in report['runs']:
        if run['mode'] == 'fp32':
            assert run['status'] == 'ok'
        else:  # AmpOptimWrapper is CUDA-only in mmengine
            assert (run['status'], run['reason']) == ('skipped', 'AmpOptimWrapper needs CUDA')


def test_dry_run_numbers_follow_from_the_timings(dry_run):
    _, out_dir = dry_run
    report = json.loads((out_dir / 'gpu_check.json').read_text())
    for run in report['runs'][:2]:
        assert list(run['arms']) == ARMS
        assert run['students'] == ['resnet50', 'mobilenet_v2']
        alone = (
            run['arms']['solo/resnet50']['median_ms']
            + run['arms']['solo/mobilenet_v2']['median_ms']
        )
        assert run['students_alone_ms'] == pytest.approx(alone)
        assert run['ratio'] == pytest.approx(run['arms']['kdcl/MinLogit']['median_ms'] / alone)
        for arm in run['arms'].values():
            assert arm['n'] == 2  # 2 rounds x 1 step, warm-up excluded
            assert arm['images_per_s'] == pytest.approx(4 / (arm['median_ms'] / 1e3))
            assert arm['peak_mb'] > 0
            assert arm['losses_finite'] is True
            assert arm['loss_scale'] is None  # fp32: no AmpOptimWrapper
        shipped = run['iteration']  # the Runner's iteration beside train_step, same rounds
        assert list(shipped['arms']) == ['kdcl/MinLogit', 'solo/resnet50', 'solo/mobilenet_v2']
        for name, row in shipped['arms'].items():
            assert row['iteration']['n'] == 2 and row['losses_finite'] is True
            assert row['train_step']['median_ms'] == run['arms'][name]['median_ms']
        kdcl_losses = run['arms']['kdcl/MinLogit']['last_losses']
        assert set(kdcl_losses) == {
            'loss',
            'resnet50.loss_ce',
            'resnet50.loss_kd',
            'mobilenet_v2.loss_ce',
            'mobilenet_v2.loss_kd',
        }
    markdown = (out_dir / 'gpu_check.md').read_text()
    assert markdown == format_gpu_check(report)
    # 4 AMP modes, and the batch sweep's 4 runs (bf16 and fp16 at batch 4 and 8)
    assert markdown.count('| skipped: AmpOptimWrapper needs CUDA |') == 8


def test_dry_run_runs_the_cpu_arms(dry_run):
    _, out_dir = dry_run
    report = json.loads((out_dir / 'gpu_check.json').read_text())
    assert report['settings']['arms'] == ['modes', 'batch', 'fused', 'equality']
    sweep = [(r['mode'], r['batch_size'], r['status']) for r in report['batch_sweep']]
    assert sweep == [(p, b, 'skipped') for p in ('bf16', 'fp16') for b in (4, 8)]
    fused = report['fused_sgd']
    assert [(r['mode'], r['status'], r['optimizer_options']) for r in fused] == [
        ('fp32', 'ok', {}),
        ('fp32', 'ok', {'fused': True}),
    ]
    assert all(r['losses_finite'] for r in fused)
    eq = report['equality']
    assert eq['lean_gradients']['gradients']['equal'] and eq['lean_gradients']['state']['equal']
    assert eq['view_distortion']['equal'] and eq['view_distortion']['device'] == 'cpu'
