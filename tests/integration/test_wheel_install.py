"""A regular (non-editable) wheel install into an environment that already holds the stack:
it touches neither torch nor mmcv nor the OpenMMLab line (upstream or onedl-*), ships the configs
and kdcl_mm.pth, and a downstream config in another directory inherits ``kdcl_mm::`` from the
installed wheel. Into an empty environment it installs, and ``import kdcl_mm`` says what to add."""

import email
import json
import os
import os.path as osp
import subprocess
import sys
import sysconfig
import zipfile

import pytest
from packaging.requirements import Requirement

from kdcl_mm.utils.stack_check import LINES
from tests.paths import REPO

pytestmark = pytest.mark.slow


def run(*cmd, cwd=None, check=True):
    env = dict(os.environ, PYTHONWARNINGS='ignore', PIP_DISABLE_PIP_VERSION_CHECK='1')
    env.pop('PYTHONPATH', None)
    out = subprocess.run(
        [str(c) for c in cmd], cwd=cwd, env=env, capture_output=True, text=True, timeout=600
    )
    if not check:
        return out
    assert out.returncode == 0, (out.stdout + out.stderr)[-4000:]
    return out.stdout


def venv_over_the_project_stack(path):
    """A scratch venv that sees the environment the tests run in (which may itself be a venv):
    --system-site-packages reaches the base interpreter, a .pth adds the test environment."""
    run(sys.executable, '-m', 'venv', '--system-site-packages', '--without-pip', path)
    python = path / 'bin' / 'python'
    site = run(python, '-c', 'import sysconfig; print(sysconfig.get_paths()["purelib"])').strip()
    with open(osp.join(site, 'zz_project_stack.pth'), 'w') as f:
        f.write(f'import site; site.addsitedir({sysconfig.get_paths()["purelib"]!r})\n')
    return python, site


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


OPENMMLAB = {d for line in LINES.values() for ds in line.values() for d in ds}


def test_the_wheel_requires_openmmlab_only_through_one_extra_per_line(wheel):
    with zipfile.ZipFile(wheel) as z:
        meta = next(n for n in z.namelist() if n.endswith('.dist-info/METADATA'))
        metadata = email.message_from_bytes(z.read(meta))
    extras = set(metadata.get_all('Provides-Extra'))
    assert extras == {'upstream', 'onedl', 'tests'}
    by_extra = {}
    for text in metadata.get_all('Requires-Dist'):
        requirement = Requirement(text)
        marker = requirement.marker
        extra = next((e for e in extras if marker and marker.evaluate({'extra': e})), None)
        by_extra.setdefault(extra, set()).add(requirement.name)
    assert not by_extra[None] & (OPENMMLAB | {'torch', 'torchvision'})  # a plain install: none
    for line, packages in LINES.items():
        # mmcv is built against torch (tools/install.sh), never installed by pip for kdcl_mm
        expected = {ds[0] for module, ds in packages.items() if module != 'mmcv'}
        assert by_extra[line] & OPENMMLAB == expected


def test_pip_install_adds_no_openmmlab_distribution_to_this_line(wheel, tmp_path):
    python, _ = venv_over_the_project_stack(tmp_path / 'venv')
    report = tmp_path / 'report.json'
    pip = (sys.executable, '-m', 'pip', '--python', python, 'install', '--no-index')
    run(*pip, '--dry-run', '--report', report, wheel)
    would_install = [item['metadata']['name'] for item in json.loads(report.read_text())['install']]
    assert would_install == ['kdcl-openmmlab']


def test_a_plain_install_into_an_empty_environment_says_what_to_add(wheel, tmp_path):
    empty = tmp_path / 'empty'
    run(sys.executable, '-m', 'venv', '--without-pip', empty)
    python = empty / 'bin' / 'python'
    pip = (sys.executable, '-m', 'pip', '--python', python, 'install', '--no-index')
    run(*pip, '--no-deps', wheel)
    out = run(python, '-c', 'import kdcl_mm', cwd=tmp_path, check=False)
    assert out.returncode == 1
    message = out.stderr.strip().splitlines()
    assert message[-3].startswith('kdcl_mm.utils.stack_check.StackError: kdcl_mm cannot run')
    assert message[-2].startswith('  1. kdcl_mm needs PyTorch, which pip does not install')
    assert message[-1].startswith('  2. kdcl_mm needs mmengine, mmcv, mmpretrain')
    assert "pip install 'kdcl-openmmlab[upstream]'" in message[-1]
    assert "pip install 'kdcl-openmmlab[onedl]'" in message[-1]


def test_installed_wheel_resolves_kdcl_mm_configs_from_another_directory(wheel, tmp_path):
    python, site = venv_over_the_project_stack(tmp_path / 'venv')
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
    # The last two lines: the forks' dataset modules print 'Could not import OneDL' first.
    out = ' '.join(run(python, '-c', code, cwd=downstream).splitlines()[-2:]).split()
    assert out[:3] == ['KDCL', '3.0', 'CheckedRunner']
    assert out[3].startswith(site)  # the wheel's kdcl_mm, not the repository's
