"""The GPU check's offline-wheel kit (standard library only; docs/benchmark.md, "GPU check").

The GPU node has Python, PyTorch and CUDA but no OpenMMLab packages and no internet.
``fetch_gpu_check_wheels.sh`` (this folder) downloads, on a machine with internet, what
:func:`downloads` lists: mmengine, mmcv-lite and mmpretrain at the versions pinned in
requirements/ (read when it runs), and the closure of their dependencies (``pure.txt``,
``binary.txt``), then checks that closure (:func:`check_closure`). On the node, this installs
the OpenMMLab three always and every other wheel only when the node lacks that package (its
own numpy, Pillow, ... stay in use), with ``pip install --no-index --no-deps --target DIR``.
Nothing compiled from mmcv is needed.

    python -m tools.analysis_tools.gpu_check_wheels --wheels .whl --target .whl/site
    python -m tools.analysis_tools.gpu_check_wheels --downloads [--no-binary]
"""

import argparse
import glob
import importlib.metadata
import importlib.util
import os.path as osp
import subprocess
import sys
import zipfile
from typing import Callable, Dict, List, Tuple

KIT = osp.dirname(osp.abspath(__file__))
REPO = osp.dirname(osp.dirname(osp.dirname(KIT)))
#: Always installed from the wheel folder, whatever the node has.
OPENMMLAB = ('mmengine', 'mmcv-lite', 'mmpretrain')
#: The kit's package -> the requirements/ pin it takes its version from (mmcv-lite is mmcv
#: without compiled ops, released with the same version).
PINNED_AS = {'mmengine': 'mmengine', 'mmcv-lite': 'mmcv', 'mmpretrain': 'mmpretrain'}
#: Packages whose presence is a module, not a distribution name (any OpenCV build
#: provides cv2; setuptools >= 81 no longer ships the pkg_resources that mmengine uses).
PRESENT_AS_MODULE = {
    'opencv-python': 'cv2',
    'opencv-python-headless': 'cv2',
    'setuptools': 'pkg_resources',
}


def _load_stack_check():
    """kdcl_mm/utils/stack_check.py by path: ``import kdcl_mm`` needs the OpenMMLab packages
    that this kit installs; that file is standard library only."""
    path = osp.join(REPO, 'kdcl_mm', 'utils', 'stack_check.py')
    spec = importlib.util.spec_from_file_location('_kdcl_stack_check', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


stack_check = _load_stack_check()


def wheel_name(path: str) -> str:
    """The normalised distribution name of a wheel file (PEP 427 / PEP 503)."""
    return stack_check.normalise(osp.basename(path).split('-')[0])


def downloads(binary: bool = True, repo: str = REPO) -> List[str]:
    """``name==version`` of every wheel the kit fetches: the OpenMMLab three pinned as in
    requirements/, then the pure-Python closure and (``binary``) the compiled one."""
    files = glob.glob(osp.join(repo, 'requirements', '**', '*.txt'), recursive=True)
    pins = stack_check.requirement_pins(sorted(files))
    missing = [pinned for pinned in PINNED_AS.values() if pinned not in pins]
    if missing:
        raise SystemExit(
            f'gpu_check_wheels: no `name==version` pin for {", ".join(missing)} in '
            f'{osp.join(repo, "requirements")}/*.txt; the kit fetches the versions pinned there.'
        )
    wanted = [f'{kit}=={pins[pinned]}' for kit, pinned in PINNED_AS.items()]
    for name in ('pure.txt', 'binary.txt') if binary else ('pure.txt',):
        with open(osp.join(KIT, name)) as f:
            wanted += [line.strip() for line in f if line.strip() and not line.startswith('#')]
    return wanted


def check_closure(dest: str, python_version: str, binary: bool = True) -> List[str]:
    """The requirements (for Linux, this Python, no extras) of the wheels in ``dest`` that no
    wheel there provides; fails when ``binary`` (the kit is then meant to be complete)."""
    try:
        from packaging.requirements import Requirement
    except ImportError:
        from pip._vendor.packaging.requirements import Requirement
    env = dict(
        python_version=python_version,
        python_full_version=python_version + '.0',
        sys_platform='linux',
        platform_system='Linux',
        os_name='posix',
        implementation_name='cpython',
        platform_python_implementation='CPython',
        extra='',
    )
    wheels = glob.glob(osp.join(dest, '*.whl'))
    have = {wheel_name(w) for w in wheels}
    have |= {'opencv-python'} if 'opencv-python-headless' in have else set()
    missing = set()
    for wheel in wheels:
        with zipfile.ZipFile(wheel) as z:
            meta = next(n for n in z.namelist() if n.endswith('.dist-info/METADATA'))
            for line in z.read(meta).decode().splitlines():
                if line.startswith('Requires-Dist:'):
                    req = Requirement(line.split(':', 1)[1].strip())
                    name = stack_check.normalise(req.name)
                    if (req.marker is None or req.marker.evaluate(env)) and name not in have:
                        missing.add(name)
    if missing and binary:
        raise SystemExit(
            f'gpu_check_wheels: no wheel for {sorted(missing)}: add them to '
            f'{osp.join(KIT, "pure.txt")} or binary.txt.'
        )
    return sorted(missing)


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
            f'{len(wheels)} wheels; run tools/analysis_tools/gpu_check_wheels/'
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
    parser.add_argument(
        '--downloads', action='store_true', help='print what the kit fetches, one per line'
    )
    parser.add_argument(
        '--check-closure', metavar='PYTHON_VERSION', help="check --wheels' requirements"
    )
    parser.add_argument('--no-binary', action='store_true', help='without the compiled wheels')
    args = parser.parse_args(argv)
    if args.downloads:
        print('\n'.join(downloads(not args.no_binary)))
        return
    if args.check_closure:
        missing = check_closure(args.wheels, args.check_closure, not args.no_binary)
        count = len({wheel_name(w) for w in glob.glob(osp.join(args.wheels, '*.whl'))})
        print(
            f'gpu_check_wheels: {count} packages in {args.wheels}'
            + (f'; the node must provide {missing}' if missing else '; closure complete')
        )
        return
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
