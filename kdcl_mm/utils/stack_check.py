"""What kdcl_mm builds on, checked before any of it is imported, each problem with its fix.

* **torch** in the supported range. pip never installs torch for kdcl_mm: it must match the
  user's CUDA and mmcv.
* **One OpenMMLab line.** kdcl_mm runs on upstream OpenMMLab (distributions ``mmengine``,
  ``mmcv``, ``mmpretrain``, ``mmdet``, ``mmsegmentation``) and on VBTI's maintained forks
  (``onedl-mmengine``, ``onedl-mmcv``, ...), which keep the import names. Both install into the
  same folders, so which line an environment holds is read from its installed distributions
  (``importlib.metadata``), never from attributes such as ``mmcv.version_info``, which the
  forks removed. A plain ``pip install kdcl-openmmlab`` installs neither line (its extras do:
  docs/openmmlab_lines.md), so ``import kdcl_mm`` names what is missing.

Standard library only, because tools/install.sh runs this file as a script
(``python kdcl_mm/utils/stack_check.py torch VERSION LINE | line | python LINE | absent FILE |
pin DIST FILE``) before anything else is installed: the torch range is written here and nowhere
else, and :func:`requirement_pins` is the one reader of requirements/'s ``name==version`` pins
(the GPU check's wheel kit loads this file by path for it, before OpenMMLab is installed).
"""

import importlib.metadata
import importlib.util
import os
import re
import sys

#: Per line, the inclusive (major, minor) torch bounds and where each end comes from
#: (README "Supported versions" has the measured rows).
TORCH_RANGES = {
    'upstream': (
        (2, 1),
        (2, 14),
        'torch 2.1 is the last series with official mmcv 2.1 wheels, and mmdet 3.3 and mmseg 1.2 '
        'need mmcv < 2.2; both ends are measured',
    ),
    'onedl': (
        (2, 4),
        (2, 14),
        'onedl-mmcv declares torch >= 2.4; measured at torch 2.14',
    ),
}


def range_text(line: str = 'upstream') -> str:
    low, high, _ = TORCH_RANGES[line]
    return 'torch {}.{}.x to {}.{}.x'.format(*low, *high)


#: Per line, the distributions that provide each OpenMMLab import name kdcl_mm uses.
LINES = {
    'upstream': {
        'mmengine': ('mmengine',),
        'mmcv': ('mmcv', 'mmcv-lite'),
        'mmpretrain': ('mmpretrain',),
        'mmdet': ('mmdet',),
        'mmseg': ('mmsegmentation',),
    },
    'onedl': {
        'mmengine': ('onedl-mmengine',),
        'mmcv': ('onedl-mmcv',),
        'mmpretrain': ('onedl-mmpretrain',),
        'mmdet': ('onedl-mmdetection',),
        'mmseg': ('onedl-mmsegmentation',),
    },
}
LINE_TITLES = {'upstream': 'upstream OpenMMLab', 'onedl': "VBTI's onedl-* forks"}
#: The oldest Python each line installs on (the forks declare Requires-Python >= 3.10).
LINE_PYTHON = {'upstream': (3, 9), 'onedl': (3, 10)}
#: What ``import kdcl_mm`` needs; mmdet and mmseg only the detection/segmentation configs.
REQUIRED = ('mmengine', 'mmcv', 'mmpretrain')
#: Releases that install but cannot run kdcl_mm, and why.
BROKEN = {
    ('onedl-mmengine', '0.10.11'): (
        'it shipped without the mmengine/dist package, so `import mmengine.registry` fails',
        '0.10.12',
    ),
}
ADD_OPENMMLAB = (
    "pip install 'kdcl-openmmlab[upstream]' (upstream OpenMMLab) or "
    "pip install 'kdcl-openmmlab[onedl]' (the maintained onedl-* forks), plus mmcv built "
    'against your torch; or let bash tools/install.sh [--line onedl] set up all of it '
    '(docs/openmmlab_lines.md)'
)


class StackError(RuntimeError):
    """The environment cannot run kdcl_mm; the message names the packages and the fix.

    Not an ImportError on purpose: mmengine re-raises ImportErrors from ``custom_imports`` as
    "set PYTHONPATH", which would hide the fix.
    """


def torch_minor_version(version: str):
    match = re.match(r'(\d+)\.(\d+)', version)
    return (int(match.group(1)), int(match.group(2))) if match else None


def torch_problem(version: str, line: str = 'upstream'):
    """None when ``version`` is in ``line``'s range, else the message with the fix."""
    low, high, why = TORCH_RANGES[line]
    found = torch_minor_version(version)
    if found is not None and low <= found <= high:
        return None
    return (
        f'torch {version} is not supported: kdcl_mm on {LINE_TITLES[line]} supports '
        f'{range_text(line)} ({why}; newer torch is untested). Fix: install a torch in that '
        'range (requirements/torch.txt has the default), or run bash tools/install.sh in a '
        'fresh environment.'
    )


def normalise(name: str) -> str:
    """A distribution name as PEP 503 compares them."""
    return re.sub(r'[-_.]+', '-', name).lower()


#: A ``name==version`` line; ranges, bare names and what follows ``;`` or ``#`` are not pins.
PIN = re.compile(r'\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;#,]+)')


def requirement_pins(paths) -> dict:
    """Normalised name -> version of every ``name==version`` line in ``paths`` (one
    requirements file or several; a later file's pin wins)."""
    pins = {}
    for path in [paths] if isinstance(paths, (str, os.PathLike)) else paths:
        with open(path) as f:
            for line in f:
                pin = PIN.match(line)
                if pin:
                    pins[normalise(pin.group(1))] = pin.group(2)
    return pins


def installed(distribution: str):
    """The installed version of ``distribution``, or None."""
    try:
        return importlib.metadata.version(distribution)
    except importlib.metadata.PackageNotFoundError:
        return None


def find_distributions(lines=LINES):
    """``{import name: [(distribution, version, line), ...]}`` for what is installed."""
    found = {}
    for line, packages in lines.items():
        for module, distributions in packages.items():
            for distribution in distributions:
                version = installed(distribution)
                if version is not None:
                    found.setdefault(module, []).append((distribution, version, line))
    return found


def _describe(entry) -> str:
    distribution, version, line = entry
    return f'{distribution} {version} ({LINE_TITLES[line]})'


def line_problems(found):
    """The line of ``found`` (None when nothing is installed) and what is wrong with it."""
    problems = []
    for module, entries in found.items():
        if len(entries) > 1:
            names = ' '.join(d for d, _, _ in entries)
            problems.append(
                f'{module} is installed twice, by {" and by ".join(map(_describe, entries))}: '
                f'both wrote the folder {module}/, which now holds a mix of the two (pip '
                'installs one over the other when something requires the other name). '
                f'Fix: pip uninstall -y {names}, then reinstall the one of your line, e.g. '
                f'pip install {entries[-1][0]}'
            )
    lines = {}
    for module, entries in found.items():
        if len(entries) == 1:
            lines.setdefault(entries[0][2], []).append((module, entries[0]))
    if len(lines) > 1:
        keep = next((e[2] for e in found.get('mmengine', ())), sorted(lines)[0])
        other = [item for line, items in lines.items() if line != keep for item in items]
        by_line = ' and '.join(
            ', '.join(_describe(entry) for _, entry in items) for items in lines.values()
        )
        swap = ' '.join(LINES[keep][module][0] for module, _ in other)
        problems.append(
            f'this environment mixes the two OpenMMLab lines: {by_line}. They install into '
            'the same folders and are not tested together. Fix: keep one line; to stay on '
            f'{LINE_TITLES[keep]} (as mmengine): pip uninstall -y '
            f'{" ".join(e[0] for _, e in other)} && pip install {swap}; or move to the other '
            'line as docs/openmmlab_lines.md shows.'
        )
    for entries in found.values():
        for distribution, version, _ in entries:
            if (distribution, version) in BROKEN:
                reason, fixed = BROKEN[distribution, version]
                problems.append(
                    f'{distribution} {version} cannot run kdcl_mm: {reason} (fixed in '
                    f"{fixed}). Fix: pip install '{distribution}>={fixed}'"
                )
    return (next(iter(lines)) if len(lines) == 1 else None), problems


def stack_problems(required=REQUIRED):
    """``(line, problems)``: the environment's line and all that stops ``import kdcl_mm``."""
    line, problems = line_problems(find_distributions())
    try:
        import torch
    except ImportError:
        problems.insert(
            0,
            'kdcl_mm needs PyTorch, which pip does not install for it (torch must match your '
            f'CUDA and mmcv). Fix: install {range_text(line or "upstream")} first '
            '(requirements/torch.txt has the default), or run bash tools/install.sh.',
        )
    else:
        found = torch_minor_version(torch.__version__)
        if found is not None and found < TORCH_RANGES[line or 'upstream'][0]:
            problems.insert(0, torch_problem(torch.__version__, line or 'upstream'))
    missing = [m for m in required if importlib.util.find_spec(m) is None]
    if missing:
        problems.append(
            f'kdcl_mm needs {", ".join(missing)}, which a plain pip install of kdcl-openmmlab '
            f'does not add (it would replace a forked stack). Fix: {ADD_OPENMMLAB}.'
        )
    return line, problems


def require_supported_stack() -> None:
    """Raise :class:`StackError` listing every problem; warn once for an untested newer torch.

    A newer torch is expected to work through the same build path (mmcv built with the C++
    standard its headers need), so it is not refused, only flagged as untested.
    """
    line, problems = stack_problems()
    if problems:
        raise StackError(
            'kdcl_mm cannot run in this environment:\n'
            + '\n'.join(f'  {i}. {p}' for i, p in enumerate(problems, 1))
        )
    import torch

    line = line or 'upstream'
    found = torch_minor_version(torch.__version__)
    if found is not None and found > TORCH_RANGES[line][1]:
        import warnings

        warnings.warn(
            f'torch {torch.__version__} is newer than kdcl_mm on {LINE_TITLES[line]} has been '
            f'tested with ({range_text(line)}); it is expected to work, but not verified.',
            stacklevel=2,
        )


def main(argv) -> int:
    """tools/install.sh's questions; exit status 0 means yes / nothing wrong."""
    if argv[:1] == ['torch'] and len(argv) == 3 and argv[2] in LINES:
        problem = torch_problem(argv[1], argv[2])
        if problem:
            print(problem, file=sys.stderr)
        return 1 if problem else 0
    if argv == ['line']:  # the line this interpreter's environment holds ('' for none)
        line, problems = line_problems(find_distributions())
        for problem in problems:
            print(problem, file=sys.stderr)
        print(line or '')
        return 2 if problems else 0
    if argv[:1] == ['absent'] and len(argv) == 2:  # the pins of a requirements file not installed
        for name, version in requirement_pins(argv[1]).items():
            if installed(name) is None:
                print(f'{name}=={version}')
        return 0
    if argv[:1] == ['pin'] and len(argv) == 3:  # the version a requirements file pins DIST to
        distribution, path = argv[1:]
        try:
            version = requirement_pins(path).get(normalise(distribution))
        except OSError as error:
            version, path = None, f'{path} ({error.strerror})'
        if version is None:
            print(
                f'{path} pins no {distribution} (expected a line {distribution}==VERSION)',
                file=sys.stderr,
            )
            return 1
        print(version)
        return 0
    if argv[:1] == ['python'] and len(argv) == 2 and argv[1] in LINES:
        oldest = LINE_PYTHON[argv[1]]
        if sys.version_info[:2] < oldest:
            print(
                f'{LINE_TITLES[argv[1]]} needs Python >= {oldest[0]}.{oldest[1]}; this is '
                f'{sys.version.split()[0]}. Fix: a fresh environment with a newer Python.',
                file=sys.stderr,
            )
            return 1
        return 0
    lines = '|'.join(LINES)
    print(
        f'usage: stack_check.py torch VERSION {lines} | line | python {lines} | absent FILE'
        ' | pin DIST FILE',
        file=sys.stderr,
    )
    return 64


if __name__ == '__main__':
    sys.exit(main(sys.argv[1:]))
