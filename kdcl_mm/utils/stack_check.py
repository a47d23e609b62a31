"""The torch range kdcl_mm supports, checked at import with the fix (pip never installs torch)."""

import re

#: Inclusive (major, minor) bounds, measured at both ends (README "Supported versions").
TORCH_RANGE = ((2, 1), (2, 14))
RANGE_TEXT = 'torch 2.1.x to 2.14.x'


def torch_minor_version(version: str):
    match = re.match(r'(\d+)\.(\d+)', version)
    return (int(match.group(1)), int(match.group(2))) if match else None


def torch_problem(version: str):
    """None when ``version`` is in the range, else the message with the fix."""
    found = torch_minor_version(version)
    if found is not None and TORCH_RANGE[0] <= found <= TORCH_RANGE[1]:
        return None
    return (
        f'torch {version} is not supported: kdcl_mm supports {RANGE_TEXT} (mmcv 2.1.0, '
        'which mmdet 3.3 and mmseg 1.2 require, has no release for older torch; newer '
        'torch is untested). Fix: install a torch in that range, e.g. '
        'pip install torch==2.14.1 torchvision==0.29.1, or run bash tools/install.sh in a '
        'fresh environment.'
    )


def require_supported_torch() -> None:
    """Refuse a torch older than the range; warn once for a newer, untested one.

    A newer torch is expected to work through the same build path (mmcv 2.1.0 built with the
    C++ standard its headers need), so it is not refused, only flagged as untested.
    """
    try:
        import torch
    except ImportError as err:
        raise ImportError(
            'kdcl_mm needs PyTorch, which pip does not install for it (torch must '
            f'match your CUDA and mmcv). Install {RANGE_TEXT} first, or run '
            'bash tools/install.sh.'
        ) from err
    problem = torch_problem(torch.__version__)
    found = torch_minor_version(torch.__version__)
    if problem and found is not None and found > TORCH_RANGE[1]:
        import warnings

        warnings.warn(
            f'torch {torch.__version__} is newer than kdcl_mm has been tested with '
            f'({RANGE_TEXT}); it is expected to work, but not verified.',
            stacklevel=2,
        )
    elif problem:
        raise ImportError(problem)
