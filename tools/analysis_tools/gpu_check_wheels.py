"""Install the wheels that travel with the tree for the GPU check (offline, standard library only).

The GPU node has Python, PyTorch and CUDA but no OpenMMLab packages and no internet.
``fetch_gpu_check_wheels.sh`` downloads mmengine, mmcv-lite, mmpretrain and the closure of
their dependencies beforehand; this installs the OpenMMLab three always and every other
wheel only when the node lacks that package (its own numpy, Pillow, ... stay in use), with
``pip install --no-index --no-deps --target DIR``. Nothing compiled from mmcv is needed.

    python -m tools.analysis_tools.gpu_check_wheels --wheels .whl --target .whl/site
"""

import argparse
import glob
import importlib.metadata
import importlib.util
import os.path as osp
import re
import subprocess
import sys
import zipfile
from typing import Callable, Dict, List, Tuple

#: Always installed from the wheel folder, whatever the node has.
OPENMMLAB = ('mmengine', 'mmcv-lite', 'mmpretrain')
#: Packages whose presence is a module, not a distribution name (any OpenCV build
#: provides cv2; setuptools >= 81 no longer ships the pkg_resources that mmengine uses).
PRESENT_AS_MODULE = {
    'opencv-python': 'cv2',
    'opencv-python-headless': 'cv2',
    'setuptools': 'pkg_resources',
}


def wheel_name(path: str) -> str:
    """The normalised distribution name of a wheel file (PEP 427 / PEP 503)."""
    return re.sub(r'[-_.]+', '-', osp.basename(path).split('-')[0]).lower()


def is_present(name: str) -> bool:
    """Whether this Python already has the package (by its module where names differ)."""
    if name in PRESENT_AS_MODULE:
        return importlib.util.find_spec(PRESENT_AS_MODULE[name]) is not None
    try:
        importlib.metadata.distribution(name)
        return True
    except importlib.metadata.PackageNotFoundError:
        return False


def select_wheels(
    wheels: List[str], present: Callable[[str], bool] = is_present
) -> Tuple[List[str], List[str]]:
    """(to install, skipped because present); fails when an OpenMMLab wheel is missing."""
    by_name: Dict[str, str] = {wheel_name(w): w for w in sorted(wheels)}
    missing = [n for n in OPENMMLAB if n not in by_name]
    if missing:
        raise SystemExit(
            f'gpu_check_wheels: no wheel for {", ".join(missing)} among '
            f'{len(wheels)} wheels; run tools/analysis_tools/'
            'fetch_gpu_check_wheels.sh on a machine with internet first.'
        )
    install, skipped = [], []
    for name, path in by_name.items():
        (install if name in OPENMMLAB or not present(name) else skipped).append(path)
    return install, skipped


def install(wheels: List[str], target: str) -> None:
    """pip when the node has it; otherwise unpack (pure wheels install by unzipping)."""
    if importlib.util.find_spec('pip') is not None:
        subprocess.run(
            [
                sys.executable,
                '-m',
                'pip',
                'install',
                '--no-index',
                '--no-deps',
                '--upgrade',
                '--disable-pip-version-check',
                '--target',
                target,
                *wheels,
            ],
            check=True,
        )
        return
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as z:
            z.extractall(target)


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--wheels', default='.whl', help='folder of .whl files')
    parser.add_argument(
        '--target', default=osp.join('.whl', 'site'), help='install folder, to be put on PYTHONPATH'
    )
    parser.add_argument('--list', action='store_true', help='only print the selection')
    args = parser.parse_args(argv)
    wheels = glob.glob(osp.join(args.wheels, '*.whl'))
    chosen, skipped = select_wheels(wheels)
    print(
        f'gpu_check_wheels: installing {len(chosen)} wheels into {args.target}: '
        + ', '.join(wheel_name(w) for w in chosen)
    )
    if skipped:
        print(
            'gpu_check_wheels: already on this Python, kept: '
            + ', '.join(wheel_name(w) for w in skipped)
        )
    if not args.list:
        install(chosen, args.target)


if __name__ == '__main__':
    main()
