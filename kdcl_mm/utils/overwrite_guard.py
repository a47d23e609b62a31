"""One rule for every tool that writes results: never replace them unless asked."""

import os
import os.path as osp
import shutil
from typing import Iterable, List


def refuse_overwrite(paths: Iterable[str], overwrite: bool, flag: str = '--overwrite') -> List[str]:
    """The paths that exist; raises FileExistsError naming them and ``flag`` unless ``overwrite``.

    Callers pass the exact files or folders they are about to write, so nothing else in
    the directory counts.
    """
    existing = [p for p in paths if osp.lexists(p)]
    if existing and not overwrite:
        raise FileExistsError(
            f'refusing to overwrite {", ".join(existing)}: pass {flag} to replace '
            f'{"it" if len(existing) == 1 else "them"}, or choose another output location.'
        )
    return existing


def remove_paths(paths: Iterable[str]) -> None:
    """Delete files and folders (used after :func:`refuse_overwrite` allowed it)."""
    for path in paths:
        if osp.isdir(path) and not osp.islink(path):
            shutil.rmtree(path)
        elif osp.lexists(path):
            os.remove(path)
