"""Which OpenMMLab line an environment holds, read from its distributions, and the import-time
refusals: mixed lines, a package installed under both names, onedl-mmengine 0.10.11, missing
packages; and the mmseg:: scope on the forks (_kdcl_mm_scope)."""

import subprocess
import sys
from pathlib import Path

import pytest

import _kdcl_mm_scope
from kdcl_mm.utils import stack_check
from tests.paths import REPO

SCRIPT = Path(REPO, 'kdcl_mm', 'utils', 'stack_check.py')


def fake_site(tmp_path, **versions):
    """A folder of bare ``.dist-info`` entries: what importlib.metadata sees, nothing to import."""
    for name, version in versions.items():
        info = tmp_path / f'{name.replace("-", "_")}-{version}.dist-info'
        info.mkdir(parents=True)
        (info / 'METADATA').write_text(f'Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n')
    return tmp_path


def run_script(site, *args):
    # -S: no site-packages, so only the fake distributions exist; run by path as install.sh does.
    return subprocess.run(
        [sys.executable, '-S', str(SCRIPT), *args],
        capture_output=True,
        text=True,
        env={'PYTHONPATH': str(site)},
        timeout=60,
    )


ONEDL = {
    'onedl-mmengine': '0.10.12',
    'onedl-mmcv': '2.3.6',
    'onedl-mmpretrain': '1.3.6',
    'onedl-mmdetection': '3.5.1',
    'onedl-mmsegmentation': '1.4.2',
}
UPSTREAM = {'mmengine': '0.10.7', 'mmcv-lite': '2.1.0', 'mmpretrain': '1.2.0'}


@pytest.mark.parametrize(
    'versions, line',
    [(ONEDL, 'onedl'), (UPSTREAM, 'upstream'), ({}, ''), ({'torch': '2.14.1'}, '')],
)
def test_the_line_is_read_from_the_installed_distributions(tmp_path, versions, line):
    out = run_script(fake_site(tmp_path, **versions), 'line')
    assert out.returncode == 0, out.stderr
    assert out.stdout == f'{line}\n'


def test_versions_come_from_either_distribution_name(tmp_path):
    site = fake_site(tmp_path, **ONEDL)
    code = (
        f'import sys; sys.path.insert(0, {str(SCRIPT.parent)!r}); import stack_check; '
        'print(sorted(stack_check.find_distributions().items()))'
    )
    out = subprocess.run(
        [sys.executable, '-S', '-c', code],
        capture_output=True,
        text=True,
        env={'PYTHONPATH': str(site)},
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    expected = [
        ('mmcv', [('onedl-mmcv', '2.3.6', 'onedl')]),
        ('mmdet', [('onedl-mmdetection', '3.5.1', 'onedl')]),
        ('mmengine', [('onedl-mmengine', '0.10.12', 'onedl')]),
        ('mmpretrain', [('onedl-mmpretrain', '1.3.6', 'onedl')]),
        ('mmseg', [('onedl-mmsegmentation', '1.4.2', 'onedl')]),
    ]
    assert out.stdout.strip() == repr(expected)


def test_mixed_lines_are_refused_naming_both_distributions(tmp_path):
    site = fake_site(tmp_path, **{'mmengine': '0.10.7', 'onedl-mmpretrain': '1.3.6'})
    out = run_script(site, 'line')
    assert out.returncode == 2 and out.stdout == '\n'
    message = out.stderr
    assert 'mixes the two OpenMMLab lines: mmengine 0.10.7 (upstream OpenMMLab)' in message
    assert "onedl-mmpretrain 1.3.6 (VBTI's onedl-* forks)" in message
    assert 'Fix: keep one line' in message
    assert 'pip uninstall -y onedl-mmpretrain && pip install mmpretrain' in message


def test_a_package_installed_under_both_names_is_refused(tmp_path):
    site = fake_site(tmp_path, **{'mmengine': '0.10.7', 'onedl-mmengine': '0.10.12'})
    out = run_script(site, 'line')
    assert out.returncode == 2
    assert (
        'mmengine is installed twice, by mmengine 0.10.7 (upstream OpenMMLab) and by '
        "onedl-mmengine 0.10.12 (VBTI's onedl-* forks)"
    ) in out.stderr
    assert 'Fix: pip uninstall -y mmengine onedl-mmengine' in out.stderr


def test_onedl_mmengine_0_10_11_is_refused_with_the_reason(tmp_path):
    out = run_script(fake_site(tmp_path, **dict(ONEDL, **{'onedl-mmengine': '0.10.11'})), 'line')
    assert out.returncode == 2
    assert 'onedl-mmengine 0.10.11 cannot run kdcl_mm: it shipped without the mmengine/dist' in (
        out.stderr
    )
    assert "Fix: pip install 'onedl-mmengine>=0.10.12'" in out.stderr
    assert run_script(fake_site(tmp_path / 'ok', **ONEDL), 'line').returncode == 0


def test_absent_lists_the_pins_whose_distribution_is_missing(tmp_path):
    site = fake_site(tmp_path, **{'onedl-mmengine': '0.10.9'})  # kept, whatever its version
    out = run_script(site, 'absent', str(Path(REPO, 'requirements', 'onedl.txt')))
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == [
        'onedl-mmpretrain==1.3.6',
        'onedl-mmdetection==3.5.1',
        'onedl-mmsegmentation==1.4.2',
    ]


def test_requirement_pins_reads_name_equals_version_lines_only(tmp_path):
    core = tmp_path / 'core.txt'
    core.write_text(
        '# comment\nmmengine == 0.10.9  # pinned\nMMPretrain==1.3.0 ; python_version >= "3.8"\n'
    )
    (tmp_path / 'mmcv.txt').write_text('mmcv_lite==2.2.0\nmmdet>=3.3\nftfy\nmmengine==0.10.7\n')
    assert stack_check.requirement_pins(core) == {'mmengine': '0.10.9', 'mmpretrain': '1.3.0'}
    assert stack_check.requirement_pins([core, tmp_path / 'mmcv.txt']) == {
        'mmengine': '0.10.7',  # the later file wins
        'mmpretrain': '1.3.0',
        'mmcv-lite': '2.2.0',
    }


def test_pin_prints_the_version_or_names_the_file_and_the_expected_line(tmp_path):
    mmcv = str(Path(REPO, 'requirements', 'upstream-mmcv.txt'))
    out = run_script(tmp_path, 'pin', 'mmcv', mmcv)
    assert (out.returncode, out.stdout.strip()) == (0, stack_check.requirement_pins(mmcv)['mmcv'])
    assert run_script(tmp_path, 'pin', 'MMCV', mmcv).stdout == out.stdout  # PEP 503 names
    torch = str(Path(REPO, 'requirements', 'torch.txt'))
    out = run_script(tmp_path, 'pin', 'mmcv', torch)
    assert out.returncode == 1 and not out.stdout
    assert out.stderr.strip() == f'{torch} pins no mmcv (expected a line mmcv==VERSION)'
    out = run_script(tmp_path, 'pin', 'mmcv', str(tmp_path / 'missing.txt'))
    assert out.returncode == 1 and 'missing.txt (No such file or directory) pins no mmcv' in (
        out.stderr
    )


def _import_kdcl_mm_with(versions: dict):
    """``import kdcl_mm`` in a subprocess whose distributions look like ``versions`` on top of the
    real ones (None: not installed)."""
    code = f"""
import importlib.metadata as m
real, fake = m.version, {versions!r}
def version(name):
    if name not in fake:
        return real(name)
    if fake[name] is None:
        raise m.PackageNotFoundError(name)
    return fake[name]
m.version = version
import kdcl_mm
"""
    return subprocess.run(
        [sys.executable, '-W', 'ignore', '-c', code], capture_output=True, text=True, timeout=600
    )


def test_import_refuses_mixed_lines_with_both_distributions_and_the_fix():
    line, problems = stack_check.stack_problems()
    assert line in stack_check.LINES and problems == []  # the suite runs on one line
    other = 'onedl' if line == 'upstream' else 'upstream'
    # mmpretrain from the other line, everything else as installed
    fake = {d: None for d in stack_check.LINES[line]['mmpretrain']}
    fake[stack_check.LINES[other]['mmpretrain'][0]] = '1.2.3'
    out = _import_kdcl_mm_with(fake)
    assert out.returncode == 1
    last = out.stderr.strip().splitlines()[-1]
    assert 'kdcl_mm.utils.stack_check.StackError' in out.stderr
    assert 'mixes the two OpenMMLab lines' in last
    engine = stack_check.LINES[line]['mmengine'][0]
    assert f'{engine} ' in last and f'{stack_check.LINES[other]["mmpretrain"][0]} 1.2.3' in last
    assert 'Fix: keep one line' in last


def test_import_refuses_onedl_mmengine_0_10_11_before_mmengine_breaks():
    out = _import_kdcl_mm_with({'mmengine': None, 'onedl-mmengine': '0.10.11'})
    assert out.returncode == 1
    assert 'StackError' in out.stderr and 'onedl-mmengine 0.10.11 cannot run kdcl_mm' in out.stderr


def test_missing_openmmlab_packages_name_both_extras(monkeypatch):
    real = stack_check.importlib.util.find_spec
    monkeypatch.setattr(
        stack_check.importlib.util,
        'find_spec',
        lambda name, *a: None if name in ('mmengine', 'mmpretrain') else real(name, *a),
    )
    _, problems = stack_check.stack_problems()
    (message,) = problems
    assert message.startswith('kdcl_mm needs mmengine, mmpretrain, which a plain pip install')
    assert "pip install 'kdcl-openmmlab[upstream]'" in message
    assert "pip install 'kdcl-openmmlab[onedl]'" in message


@pytest.mark.parametrize(
    'distribution_installed, importable, expected',
    [(False, True, 'mmseg'), (True, True, 'mmsegmentation'), (False, False, 'mmsegmentation')],
)
def test_mmseg_scope_maps_to_the_import_name_where_only_the_fork_provides_it(
    monkeypatch, distribution_installed, importable, expected
):
    monkeypatch.setattr(_kdcl_mm_scope, '_has_distribution', lambda name: distribution_installed)
    monkeypatch.setattr(
        _kdcl_mm_scope.importlib.util, 'find_spec', lambda name: object() if importable else None
    )
    table = _kdcl_mm_scope.map_scopes({'mmseg': 'mmsegmentation', 'mmdet': 'mmdet'})
    assert table == {'mmseg': expected, 'mmdet': 'mmdet', 'kdcl_mm': 'kdcl_mm'}


def test_the_mmseg_scope_resolves_on_this_line():
    from mmengine.config.utils import MODULE2PACKAGE
    from mmengine.hub import get_config

    expected = 'mmsegmentation' if stack_check.installed('mmsegmentation') else 'mmseg'
    assert MODULE2PACKAGE['mmseg'] == expected
    cfg = get_config('mmseg::_base_/schedules/schedule_20k.py')
    assert cfg.train_cfg.max_iters == 20000
