"""The installer and the import-time checks: supported torch range, no reinstall of a working
stack, the lite (no compiled ops) mode, and clear errors with the fix."""

import os
import subprocess
import sys

import pytest

from kdcl_mm.utils.stack_check import torch_problem

# A stand-in interpreter: answers the installer's probes as an environment holding FAKE_TORCH,
# the OpenMMLab line FAKE_LINE (none of its pinned packages yet; FAKE_MIXED: a mixed one) and,
# if FAKE_MMCV is set, the distribution FAKE_MMCV_DIST at that version (with ops if
# FAKE_MMCV_OPS=1). kdcl_mm/utils/stack_check.py's other questions (torch range, Python) go to
# the real interpreter. Succeeds at everything else, and logs every call (with the contents of
# any pip constraints file) to CALLS.
FAKE_PYTHON = r"""#!/usr/bin/env bash
echo "$*" >>"$CALLS"
prev=
for a in "$@"; do
  if [ "$prev" = -c ] && [ -f "$a" ]; then echo "constraints: $(tr '\n' ' ' <"$a")" >>"$CALLS"; fi
  prev=$a
done
case "$*" in
  *stack_check.py\ line)
    if [ -n "$FAKE_MIXED" ]; then echo "$FAKE_MIXED" >&2; exit 2; fi; echo "$FAKE_LINE" ;;
  *stack_check.py\ absent*) grep -E '^[A-Za-z0-9_.-]+==' "${@: -1}" ;;
  *stack_check.py*) exec "$REAL_PYTHON" "$@" ;;
  *torch.__version__*) echo "$FAKE_TORCH" ;;
  *torch.version.cuda*) echo cpu ;;
  *sys.executable*) echo "/fake/python 3.11.7" ;;
  *"import torchvision"*) exit 0 ;;
  *"m.version('$FAKE_MMCV_DIST')"*) [ "$FAKE_MMCV" ] && echo "$FAKE_MMCV" || exit 1 ;;
  *"m.version("*) exit 1 ;;
  *mmcv._ext*) [ "$FAKE_MMCV_OPS" = 1 ] || exit 1 ;;
  *"show -q mmcv-lite"*) exit 1 ;;
  *) exit 0 ;;
esac
"""


def run_installer(
    tmp_path,
    torch_version,
    *args,
    mmcv_version='2.1.0',
    mmcv_ops='1',
    line='upstream',
    mmcv_dist='mmcv',
    mixed='',
):
    fake = tmp_path / 'python'
    fake.write_text(FAKE_PYTHON)
    fake.chmod(0o755)
    calls = tmp_path / 'calls.log'
    env = dict(
        os.environ,
        KDCL_PYTHON=str(fake),
        REAL_PYTHON=sys.executable,
        CALLS=str(calls),
        FAKE_TORCH=torch_version,
        FAKE_LINE=line,
        FAKE_MIXED=mixed,
        FAKE_MMCV_DIST=mmcv_dist,
        FAKE_MMCV=mmcv_version,
        FAKE_MMCV_OPS=mmcv_ops,
        KDCL_WHEEL_CACHE=str(tmp_path / 'wheels'),
    )
    out = subprocess.run(
        ['bash', 'tools/install.sh', *args], capture_output=True, text=True, env=env, timeout=60
    )
    return out, calls.read_text() if calls.exists() else ''


def pip_calls(calls: str) -> list:
    return [c.split(' pip ', 1)[1] for c in calls.splitlines() if ' pip ' in c]


@pytest.mark.parametrize('version', ['2.0.1', '2.15.0', '3.0.0'])
def test_installer_refuses_a_torch_outside_the_range_before_anything_else(tmp_path, version):
    out, calls = run_installer(tmp_path, version)
    assert out.returncode == 1
    assert f'torch {version} is not supported' in out.stderr
    assert 'torch 2.1.x to 2.14.x' in out.stderr and 'Fix:' in out.stderr
    assert ' pip ' not in calls  # stopped before pip or the mmcv build


@pytest.mark.parametrize('version', ['2.1.2', '2.12.1+cpu', '2.14.1'])
def test_installer_keeps_a_torch_in_the_range_and_a_working_mmcv(tmp_path, version):
    out, calls = run_installer(tmp_path, version)
    assert out.returncode == 0, out.stderr
    pips = pip_calls(calls)
    assert pips, calls
    assert not any('torch' in c for c in pips)  # never reinstalled
    assert not any(w in calls for w in ('pip wheel', 'pip download', 'mmcv-lite'))
    assert 'mmcv 2.1.0 with compiled ops (kept)' in out.stdout
    numpy_pinned = 'constraints: numpy<2 opencv-python<4.11' in calls
    assert numpy_pinned == version.startswith('2.1.')  # torch 2.1 was built against numpy 1


def test_installer_detects_and_keeps_the_onedl_line_of_an_existing_environment(tmp_path):
    out, calls = run_installer(
        tmp_path, '2.14.1', line='onedl', mmcv_dist='onedl-mmcv', mmcv_version='2.3.6'
    )
    assert out.returncode == 0, out.stderr
    assert 'OpenMMLab line: onedl (found in this environment)' in out.stdout
    assert 'onedl-mmcv 2.3.6 with compiled ops (kept)' in out.stdout
    pips = ' '.join(pip_calls(calls))
    for pin in ('onedl-mmengine==0.10.12', 'onedl-mmpretrain==1.3.6', 'onedl-mmdetection==3.5.1'):
        assert pin in pips
    installed = {w.split('==')[0] for w in pips.split() if '==' in w}
    upstream = {'mmengine', 'mmcv', 'mmcv-lite', 'mmpretrain', 'mmdet', 'mmsegmentation'}
    assert not installed & upstream, installed  # not one upstream distribution over the forks
    assert 'torch' not in pips and 'pip wheel' not in calls and 'pip download' not in calls


def test_installer_builds_nothing_when_the_onedl_mmcv_wheel_is_cached(tmp_path):
    cache = tmp_path / 'wheels' / 'onedl-mmcv-2.3.6-torch2.14.1-cudacpu'
    cache.mkdir(parents=True)
    wheel = cache / 'onedl_mmcv-2.3.6-cp311-cp311-linux_x86_64.whl'
    wheel.write_bytes(b'')
    out, calls = run_installer(
        tmp_path, '2.14.1', '--line', 'onedl', line='', mmcv_dist='onedl-mmcv', mmcv_version=''
    )
    assert out.returncode == 0, out.stderr
    assert f'onedl-mmcv 2.3.6 wheel for torch 2.14.1 found in {cache}' in out.stdout
    assert f'install -q --no-deps --force-reinstall {wheel}' in calls
    assert 'pip wheel' not in calls and 'pip download' not in calls


def test_installer_never_switches_the_line_of_an_existing_environment(tmp_path):
    out, calls = run_installer(tmp_path, '2.14.1', '--line', 'onedl')  # holds upstream
    assert out.returncode == 1
    assert 'holds the upstream line; --line onedl would install its packages over' in out.stderr
    assert 'docs/openmmlab_lines.md' in out.stderr and not pip_calls(calls)


def test_installer_refuses_an_environment_that_mixes_the_lines(tmp_path):
    message = 'this environment mixes the two OpenMMLab lines: mmengine 0.10.7 (...)'
    out, calls = run_installer(tmp_path, '2.14.1', line='', mixed=message)
    assert out.returncode == 1 and message in out.stderr and not pip_calls(calls)


def test_installer_no_ops_has_no_onedl_counterpart(tmp_path):
    out, calls = run_installer(tmp_path, '2.14.1', '--line=onedl', '--no-ops', line='')
    assert out.returncode == 1 and 'there is no onedl-mmcv-lite' in out.stderr
    assert not pip_calls(calls)


def test_installer_no_ops_installs_mmcv_lite_instead_of_building(tmp_path):
    out, calls = run_installer(tmp_path, '2.14.1', '--no-ops', mmcv_version='', mmcv_ops='0')
    assert out.returncode == 0, out.stderr
    assert 'install -q -c' in calls and 'mmcv-lite==2.1.0' in calls
    assert 'pip wheel' not in calls and 'pip download' not in calls
    assert 'check_env --no-ops' in calls


@pytest.mark.parametrize(
    'args, message', [(['--lite'], "unknown option '--lite'"), (['--line', 'mm'], "line 'mm'")]
)
def test_installer_rejects_unknown_options(tmp_path, args, message):
    out, _ = run_installer(tmp_path, '2.14.1', *args)
    assert out.returncode == 1 and message in out.stderr


def test_torch_range_at_import():
    assert torch_problem('2.1.2') is None and torch_problem('2.14.1+cu130') is None
    message = torch_problem('2.0.1')
    assert 'torch 2.0.1 is not supported' in message and '2.1.x to 2.14.x' in message
    assert 'Fix:' in message
    assert torch_problem('2.15.0') is not None  # untested: import warns, the installer stops
    # onedl-mmcv declares torch >= 2.4
    assert torch_problem('2.4.1', 'onedl') is None and '2.4.x to 2.14.x' in torch_problem(
        '2.3.1', 'onedl'
    )


def _python(code: str) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, '-W', 'ignore', '-c', code], capture_output=True, text=True, timeout=600
    )


def test_kdcl_mm_itself_imports_neither_mmdet_nor_mmseg():
    # mmpretrain.models tries mmdet on its own (an optional layer); blocking it shows that
    # nothing of kdcl_mm needs it.
    out = _python(
        "import sys; sys.modules['mmdet'] = None; sys.modules['mmseg'] = None; "
        'import kdcl_mm, kdcl_mm.apis; print(sorted(kdcl_mm.models.__all__ '
        "if hasattr(kdcl_mm.models, '__all__') else []) is not None)"
    )
    assert out.returncode == 0, out.stderr[-2000:]


BLOCK_OPS = "import sys; sys.modules['mmcv._ext'] = None\n"


def test_kdcl_trains_without_compiled_mmcv_ops():
    code = (
        BLOCK_OPS
        + """
import torch
import kdcl_mm
from mmengine.registry import init_default_scope
from mmengine.optim import OptimWrapper
from kdcl_mm.registry import MODELS
from mmpretrain.structures import DataSample
init_default_scope('kdcl_mm')
student = dict(type='ImageClassifier', backbone=dict(type='ResNet', depth=18, base_channels=8,
               stem_channels=8), neck=dict(type='GlobalAveragePooling'),
               head=dict(type='LinearClsHead', num_classes=3, in_channels=64))
model = MODELS.build(dict(type='KDCL', students=[student, student]))
optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
data = dict(inputs=[torch.rand(2, 3, 32, 32) * 255] * 2,
            data_samples=[DataSample().set_gt_label(i) for i in (0, 2)])
before = model.students[1].head.fc.weight.clone()
losses = model.train_step(data, optim)
assert torch.isfinite(losses['loss']) and not torch.equal(before, model.students[1].head.fc.weight)
print('trained', sorted(k for k in losses if k.endswith('loss_kd')))
"""
    )
    out = _python(code)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "trained ['resnet18_0.loss_kd', 'resnet18_1.loss_kd']" in out.stdout


def test_a_detection_config_without_compiled_ops_says_how_to_add_them():
    out = _python(
        BLOCK_OPS + 'from mmengine.config import Config\n'
        "Config.fromfile('configs/mmdet/faster-rcnn_r18-w16_fpn_mnist-coco.py')"
    )
    assert out.returncode == 1
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith('kdcl_mm.utils.compiled_ops.MissingCompiledOpsError: mmdet and mmseg')
    assert 'mmcv._ext is missing' in last and 'bash tools/install.sh (without --no-ops)' in last
