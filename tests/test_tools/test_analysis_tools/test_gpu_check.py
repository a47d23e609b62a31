"""The prepared GPU check: its dry mode end to end on CPU (through gpu_check.sh, as CI runs it),
its refusals, and the offline wheel selection."""

import json
import os
import os.path as osp
import subprocess
import sys

import pytest
import torch

from tests.paths import REPO as ROOT
from tools.analysis_tools import gpu_check
from tools.analysis_tools.gpu_check_wheels import select_wheels, wheel_name

ARMS = ['kdcl/MinLogit', 'solo/resnet50', 'solo/mobilenet_v2']


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
        kdcl_losses = run['arms']['kdcl/MinLogit']['last_losses']
        assert set(kdcl_losses) == {
            'loss',
            'resnet50.loss_ce',
            'resnet50.loss_kd',
            'mobilenet_v2.loss_ce',
            'mobilenet_v2.loss_kd',
        }
    markdown = (out_dir / 'gpu_check.md').read_text()
    assert markdown == gpu_check.format_markdown(report)
    assert markdown.count('| skipped: AmpOptimWrapper needs CUDA |') == 4


def test_refuses_an_existing_report_before_measuring(tmp_path, capsys):
    (tmp_path / 'gpu_check.md').write_text('earlier')
    assert gpu_check.main(['--dry', '--out-dir', str(tmp_path)]) == 2
    assert '--overwrite' in capsys.readouterr().err
    assert (tmp_path / 'gpu_check.md').read_text() == 'earlier'
    assert not (tmp_path / 'gpu_check.json').exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason='this machine has CUDA')
def test_without_cuda_it_stops_with_a_message(tmp_path, capsys):
    assert gpu_check.main(['--out-dir', str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert 'no CUDA device' in err and '--dry' in err
    assert list(tmp_path.iterdir()) == []


def test_wheel_names_are_normalised():
    assert wheel_name('.whl/mmcv_lite-2.1.0-py2.py3-none-any.whl') == 'mmcv-lite'
    assert (
        wheel_name('opencv_python_headless-5.0.0.93-cp37-abi3-manylinux2014_x86_64.whl')
        == 'opencv-python-headless'
    )
    assert wheel_name('PyYAML-6.0.4-cp312-cp312-manylinux2014_x86_64.whl') == 'pyyaml'


def test_openmmlab_wheels_always_install_others_only_when_missing():
    wheels = [
        'w/mmengine-0.10.7-py3-none-any.whl',
        'w/mmcv_lite-2.1.0-py2.py3-none-any.whl',
        'w/mmpretrain-1.2.0-py2.py3-none-any.whl',
        'w/numpy-2.5.5-cp312-cp312-x.whl',
        'w/einops-0.8.2-py3-none-any.whl',
    ]
    present = {'mmengine', 'numpy'}.__contains__
    install, skipped = select_wheels(wheels, present)
    assert [wheel_name(w) for w in install] == ['einops', 'mmcv-lite', 'mmengine', 'mmpretrain']
    assert [wheel_name(w) for w in skipped] == ['numpy']


def test_a_missing_openmmlab_wheel_names_the_fetch_script():
    with pytest.raises(SystemExit, match='mmcv-lite, mmpretrain.*fetch_gpu_check_wheels.sh'):
        select_wheels(['w/mmengine-0.10.7-py3-none-any.whl'], lambda name: False)
