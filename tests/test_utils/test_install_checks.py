"""The installer and the import-time checks: supported torch range, no reinstall of a working
stack, the lite (no compiled ops) mode, and clear errors with the fix."""

import os
import subprocess
import sys

import pytest

from kdcl_mm.utils.stack_check import torch_problem

# A stand-in interpreter: answers the installer's probes as an environment holding
# FAKE_TORCH and (if FAKE_MMCV_OPS=1) a working mmcv FAKE_MMCV with ops, succeeds at everything
# else, and logs every call (with the contents of any pip constraints file) to CALLS.
FAKE_PYTHON = r"""#!/usr/bin/env bash
echo "$*" >>"$CALLS"
prev=
for a in "$@"; do
  if [ "$prev" = -c ] && [ -f "$a" ]; then echo "constraints: $(tr '\n' ' ' <"$a")" >>"$CALLS"; fi
  prev=$a
done
case "$*" in
  *torch.__version__*) echo "$FAKE_TORCH" ;;
  *sys.executable*) echo "/fake/python 3.11.7" ;;
  *"import torchvision"*) exit 0 ;;
  *"mmcv.__version__"*) [ "$FAKE_MMCV" ] && echo "$FAKE_MMCV" || exit 1 ;;
  *mmcv._ext*) [ "$FAKE_MMCV_OPS" = 1 ] || exit 1 ;;
  *"show -q mmcv-lite"*) exit 1 ;;
  *) exit 0 ;;
esac
"""


def run_installer(tmp_path, torch_version, *args, mmcv_version='2.1.0', mmcv_ops='1'):
    fake = tmp_path / 'python'
    fake.write_text(FAKE_PYTHON)
    fake.chmod(0o755)
    calls = tmp_path / 'calls.log'
    env = dict(
        os.environ,
        KDCL_PYTHON=str(fake),
        CALLS=str(calls),
        FAKE_TORCH=torch_version,
        FAKE_MMCV=mmcv_version,
        FAKE_MMCV_OPS=mmcv_ops,
        KDCL_WHEEL_CACHE=str(tmp_path / 'wheels'),
    )
    out = subprocess.run(
        ['bash', 'tools/install.sh', *args], capture_output=True, text=True, env=env, timeout=60
    )
    return out, calls.read_text() if calls.exists() else ''


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
    pip_calls = [c for c in calls.splitlines() if ' pip ' in c]
    assert pip_calls, calls
    assert not any('torch' in c.split('pip', 1)[1] for c in pip_calls)  # never reinstalled
    assert not any(w in calls for w in ('pip wheel', 'pip download', 'mmcv-lite'))
    assert 'mmcv 2.1.0 with compiled ops (kept)' in out.stdout
    numpy_pinned = 'constraints: numpy<2 opencv-python<4.11' in calls
    assert numpy_pinned == version.startswith('2.1.')  # torch 2.1 was built against numpy 1


def test_installer_no_ops_installs_mmcv_lite_instead_of_building(tmp_path):
    out, calls = run_installer(tmp_path, '2.14.1', '--no-ops', mmcv_version='', mmcv_ops='0')
    assert out.returncode == 0, out.stderr
    assert 'install -q -c' in calls and 'mmcv-lite==2.1.0' in calls
    assert 'pip wheel' not in calls and 'pip download' not in calls
    assert 'check_env --no-ops' in calls


def test_installer_rejects_unknown_options(tmp_path):
    out, _ = run_installer(tmp_path, '2.14.1', '--lite')
    assert out.returncode == 1 and "unknown option '--lite'" in out.stderr


def test_torch_range_at_import():
    assert torch_problem('2.1.2') is None and torch_problem('2.14.1+cu130') is None
    message = torch_problem('2.0.1')
    assert 'torch 2.0.1 is not supported' in message and '2.1.x to 2.14.x' in message
    assert 'Fix:' in message
    assert torch_problem('2.15.0') is not None  # untested: import warns, the installer stops


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
from mmpretrain.registry import MODELS
from mmpretrain.structures import DataSample
init_default_scope('mmpretrain')
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
