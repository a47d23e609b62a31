"""``python -m kdcl_mm.utils.check_env [--no-ops]``: verify the stack kdcl_mm needs, with fixes.

torch is checked against the supported range; the OpenMMLab packages against the series
kdcl_mm is tested with. ``--no-ops`` accepts an mmcv without compiled ops (mmcv-lite: KDCL
pretraining only) and does not require mmdet/mmseg.
"""

import argparse
import importlib
import sys

from .compiled_ops import FIX as OPS_FIX
from .stack_check import torch_problem

#: module -> version prefix kdcl_mm is tested with.
TESTED = {
    'mmengine': '0.10.',
    'mmcv': '2.1.',
    'mmpretrain': '1.2.',
    'mmdet': '3.3.',
    'mmseg': '1.2.',
}
DOWNSTREAM = ('mmdet', 'mmseg')


def _version(module: str, problems: list, required: bool = True):
    try:
        return importlib.import_module(module).__version__
    except ImportError as e:
        if required:
            problems.append(f'{module}: not importable ({e}). Fix: bash tools/install.sh')
        else:
            print(f'{module:12s} {"absent":14s} (detection/segmentation only)')
        return None


def check(with_ops: bool = True) -> list:
    problems = []
    torch_version = _version('torch', problems)
    if torch_version:
        problem = torch_problem(torch_version)
        print(f'{"torch":12s} {torch_version:14s} {"ok" if not problem else "UNSUPPORTED"}')
        if problem:
            problems.append(problem)
    for module, prefix in TESTED.items():
        version = _version(module, problems, required=with_ops or module not in DOWNSTREAM)
        if version is None:
            continue
        status = 'ok' if version.startswith(prefix) else f'UNTESTED (tested: {prefix}x)'
        print(f'{module:12s} {version:14s} {status}')
        if not version.startswith(prefix):
            problems.append(
                f'{module} {version} is not the tested {prefix}x series. '
                'Fix: bash tools/install.sh installs the tested versions'
            )
    if with_ops:
        try:
            import torch
            from mmcv.ops import nms

            boxes = torch.tensor(
                [[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 10.0, 10.0], [20.0, 20.0, 30.0, 30.0]]
            )
            _, keep = nms(boxes, torch.tensor([0.9, 0.8, 0.7]), iou_threshold=0.5)
            assert keep.tolist() == [0, 2], keep
            print('mmcv.ops     compiled (nms ran)')
        except Exception as e:  # noqa: BLE001 - report any failure with the fix
            problems.append(f'mmcv compiled ops unusable ({type(e).__name__}: {e}). {OPS_FIX}')
    else:
        print('mmcv.ops     not required (--no-ops: KDCL pretraining only)')
    from mmengine.config.utils import MODULE2PACKAGE

    if 'kdcl_mm' in MODULE2PACKAGE:
        print('kdcl_mm::    config scope active')
    else:
        problems.append(
            'the kdcl_mm:: config scope is not installed (kdcl_mm.pth missing). '
            'Fix: bash tools/install.sh, or pip install . (a wheel ships the .pth)'
        )
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        '--no-ops', action='store_true', help='accept mmcv without compiled ops and no mmdet/mmseg'
    )
    args = parser.parse_args(argv)
    found = check(with_ops=not args.no_ops)
    for p in found:
        print('ERROR:', p, file=sys.stderr)
    return 1 if found else 0


if __name__ == '__main__':
    sys.exit(main())
