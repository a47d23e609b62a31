"""A regular (non-editable) wheel install into an environment that already holds the stack:
it touches neither torch nor mmcv, ships the configs and kdcl_mm.pth, and a downstream config
in another directory inherits ``kdcl_mm::`` from the installed wheel."""

import os
import os.path as osp
import subprocess
import sys
import sysconfig
import zipfile

import pytest

from tests.paths import REPO

pytestmark = pytest.mark.slow


def run(*cmd, cwd=None):
    env = dict(os.environ, PYTHONWARNINGS='ignore', PIP_DISABLE_PIP_VERSION_CHECK='1')
    env.pop('PYTHONPATH', None)
    out = subprocess.run(
        [str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
    assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
    return out.stdout


@pytest.fixture(scope='module')
def wheel(tmp_path_factory):
    out_dir = tmp_path_factory.mktemp('wheel')
    run(
        sys.executable,
        '-m',
        'pip',
        'wheel',
        '--no-deps',
        '--no-build-isolation',
        '-q',
        '-w',
        out_dir,
        REPO,
    )
    (path,) = out_dir.glob('kdcl_openmmlab-*.whl')
    return path


def test_the_wheel_ships_configs_the_scope_pth_and_the_license(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert 'kdcl_mm.pth' in names and '_kdcl_mm_scope.py' in names
    assert 'kdcl_mm/.mim/model-index.yml' in names  # mmengine reads it to resolve kdcl_mm::
    for config in (
        'kdcl/resnet18-w16_mbv2-w0.5_mnist.py',
        '_base_/default_runtime.py',
        'mmdet/faster-rcnn_r18-w16_fpn_mnist-coco.py',
    ):
        assert f'kdcl_mm/.mim/configs/{config}' in names
    assert not any(n.startswith(('tools/', 'tests/')) for n in names)  # scripts stay in the repo
    assert any(n.endswith('LICENSE') and '.dist-info/' in n for n in names)


def test_installed_wheel_resolves_kdcl_mm_configs_from_another_directory(wheel, tmp_path):
    # A scratch venv over the project's stack: --system-site-packages reaches the base
    # interpreter; addsitedir adds the environment the tests run in (which may itself be a venv).
    scratch = tmp_path / 'venv'
    run(sys.executable, '-m', 'venv', '--system-site-packages', '--without-pip', scratch)
    python = scratch / 'bin' / 'python'
    site = run(python, '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])').strip()
    with open(osp.join(site, 'zz_project_stack.pth'), 'w') as f:
        f.write(f'import site; site.addsitedir({sysconfig.get_paths()["purelib"]!r})\n')
    log = run(sys.executable, '-m', 'pip', '--python', python, 'install', '--no-index', wheel)
    assert 'Successfully installed kdcl-openmmlab' in log
    installed = log.split('Successfully installed', 1)[1]
    assert 'torch' not in installed and 'mmcv' not in installed  # nothing else installed

    downstream = tmp_path / 'downstream'
    downstream.mkdir()
    (downstream / 'my_recipe.py').write_text(
        "_base_ = 'kdcl_mm::kdcl/resnet18-w16_mbv2-w0.5_mnist.py'\n"
        'model = dict(kd_loss=dict(temperature=3.0))\n'
    )
    code = (
        'import sys; from mmengine.config import Config; '
        "c = Config.fromfile('my_recipe.py', import_custom_modules=False); "
        "assert 'kdcl_mm' not in sys.modules; "  # resolved through kdcl_mm.pth alone
        'import kdcl_mm; '
        'print(c.model.type, c.model.kd_loss.temperature, c.runner_type); '
        'print(kdcl_mm.__file__)'
    )
    out = run(python, '-c', code, cwd=downstream).split()
    assert out[:3] == ['KDCL', '3.0', 'CheckedRunner']
    assert out[3].startswith(site)  # the wheel's kdcl_mm, not the repository's
