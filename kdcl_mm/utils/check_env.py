"""``python -m kdcl_mm.utils.check_env [--no-ops]``: verify the stack kdcl_mm needs, with fixes.

It reports the environment's OpenMMLab line (upstream or the onedl-* forks,
docs/openmmlab_lines.md) and checks each installed distribution against the range that
kdcl-openmmlab's extra for that line declares (``pip install 'kdcl-openmmlab[onedl]'``;
pyproject.toml is the one place the ranges are written). mmcv has no extra (it is built against
torch), so it is checked the way it is used: mmdet and mmseg must import with it (each asserts
the mmcv versions it accepts) and its compiled ops must run. ``--no-ops`` accepts an mmcv
without compiled ops (mmcv-lite: KDCL pretraining only) and does not require mmdet/mmseg.
"""

import argparse
import importlib
import importlib.metadata
import sys

from .compiled_ops import FIX as OPS_FIX
from .stack_check import (
    LINE_TITLES,
    LINES,
    REQUIRED,
    find_distributions,
    stack_problems,
    torch_problem,
)

DOWNSTREAM = ('mmdet', 'mmseg')
DISTRIBUTION = 'kdcl-openmmlab'


def supported_ranges(line: str) -> dict:
    """``{distribution: specifier}`` of kdcl-openmmlab's ``line`` extra, from its metadata."""
    from packaging.requirements import Requirement

    ranges = {}
    for text in importlib.metadata.requires(DISTRIBUTION) or ():
        requirement = Requirement(text)
        if requirement.marker is not None and requirement.marker.evaluate({'extra': line}):
            ranges[requirement.name] = requirement.specifier
    return ranges


def _row(name: str, version: str, status: str) -> None:
    print(f'{name:12s} {version:14s} {status}')


def check(with_ops: bool = True) -> list:
    line, problems = stack_problems(REQUIRED if not with_ops else REQUIRED + DOWNSTREAM)
    try:
        import torch
    except ImportError:
        return problems
    problem = torch_problem(torch.__version__, line or 'upstream')
    _row('torch', torch.__version__, 'UNSUPPORTED' if problem else 'ok')
    if problem and problem not in problems:
        problems.append(problem)
    if problems:
        return problems
    if line is None:  # imports, but no distribution of either line: e.g. source checkouts
        _row('line', 'unknown', 'no OpenMMLab distribution installed: versions not checked')
    else:
        _row('line', line, LINE_TITLES[line])
    try:
        ranges = supported_ranges(line) if line else {}
    except importlib.metadata.PackageNotFoundError:
        ranges = {}
        problems.append(
            f'{DISTRIBUTION} is not installed, so its supported ranges are unknown. '
            'Fix: pip install -e . (or bash tools/install.sh)'
        )
    for module, entries in find_distributions({line: LINES[line]} if line else {}).items():
        distribution, version, _ = entries[0]
        specifier = ranges.get(distribution)
        if specifier is None:
            _row(module, version, distribution)
        elif specifier.contains(version, prereleases=True):
            _row(module, version, f'{distribution} ok ({specifier})')
        else:
            _row(module, version, f'{distribution} UNSUPPORTED (supported: {specifier})')
            problems.append(
                f'{distribution} {version} is outside the supported {specifier}. '
                f"Fix: pip install '{distribution}{specifier}' (bash tools/install.sh installs "
                'the tested pins of requirements/)'
            )
    for module in DOWNSTREAM:
        try:
            importlib.import_module(module)  # asserts the mmcv versions it accepts
        except Exception as e:  # noqa: BLE001 - report any failure with the fix
            if with_ops:
                problems.append(f'{module} does not import ({type(e).__name__}: {e})')
            else:
                _row(module, 'absent', '(detection/segmentation only)')
    if with_ops:
        try:
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
        print(f'scopes       kdcl_mm:: active, mmseg:: via {MODULE2PACKAGE.get("mmseg")!r}')
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
    sys.exit(main(sys.argv[1:]))
