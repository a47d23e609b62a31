"""tools/analysis_tools/gpu_check_wheels/: the offline kit's wheel selection, its download list
(the OpenMMLab pins read from requirements/) and its closure check."""

import subprocess
import sys
import zipfile

import pytest

from tests.paths import REPO
from tools.analysis_tools.gpu_check_wheels import (
    check_closure,
    downloads,
    select_wheels,
    stack_check,
    wheel_name,
)


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


def test_pins_are_read_from_any_requirements_file(tmp_path):
    (tmp_path / 'requirements' / 'openmmlab').mkdir(parents=True)
    (tmp_path / 'requirements' / 'openmmlab' / 'core.txt').write_text(
        'mmengine == 0.10.9  # pinned\nMMPretrain==1.3.0 ; python_version >= "3.8"\n'
    )
    (tmp_path / 'requirements' / 'mmcv.txt').write_text('mmcv==2.2.0\nmmdet>=3.3\nftfy\n')
    wanted = downloads(binary=False, repo=str(tmp_path))
    assert wanted[:3] == ['mmengine==0.10.9', 'mmcv-lite==2.2.0', 'mmpretrain==1.3.0']
    assert 'setuptools==80.10.2' in wanted and not any(w.startswith('numpy') for w in wanted)
    assert any(w.startswith('numpy==') for w in downloads(repo=str(tmp_path)))


def test_the_kit_pins_are_the_upstream_line_pins():
    pins = stack_check.requirement_pins(
        [f'{REPO}/requirements/upstream.txt', f'{REPO}/requirements/upstream-mmcv.txt']
    )
    assert downloads()[:3] == [
        f'mmengine=={pins["mmengine"]}',
        f'mmcv-lite=={pins["mmcv"]}',
        f'mmpretrain=={pins["mmpretrain"]}',
    ]
    assert len(downloads()) == len(set(downloads())) == 35


def test_the_kit_runs_without_openmmlab():
    # -S: no site-packages, as on the GPU node before the kit has run (import kdcl_mm fails there).
    out = subprocess.run(
        [sys.executable, '-S', '-m', 'tools.analysis_tools.gpu_check_wheels', '--downloads'],
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == downloads()


def test_a_missing_pin_names_requirements(tmp_path):
    (tmp_path / 'requirements').mkdir()
    (tmp_path / 'requirements' / 'runtime.txt').write_text('mmengine==0.10.7\n')
    with pytest.raises(SystemExit, match='no `name==version` pin for mmcv, mmpretrain in'):
        downloads(repo=str(tmp_path))


def fake_wheel(folder, name, requires):
    path = folder / f'{name}-1.0-py3-none-any.whl'
    with zipfile.ZipFile(path, 'w') as z:
        lines = ['Metadata-Version: 2.1', f'Name: {name}'] + [
            f'Requires-Dist: {r}' for r in requires
        ]
        z.writestr(f'{name}-1.0.dist-info/METADATA', '\n'.join(lines) + '\n')
    return path


def test_the_closure_check_names_what_no_wheel_provides(tmp_path):
    fake_wheel(tmp_path, 'mmengine', ['addict', 'opencv-python>=3', 'yapf; python_version < "3"'])
    fake_wheel(tmp_path, 'opencv_python_headless', [])
    fake_wheel(tmp_path, 'rich', ['pygments; extra == "docs"'])
    # yapf: not for Python 3.12; pygments: an extra; opencv-python: the headless wheel.
    assert check_closure(str(tmp_path), '3.12', binary=False) == ['addict']
    with pytest.raises(SystemExit, match=r"no wheel for \['addict'\]: add them to .*pure.txt"):
        check_closure(str(tmp_path), '3.12')
    fake_wheel(tmp_path, 'addict', [])
    assert check_closure(str(tmp_path), '3.12') == []
