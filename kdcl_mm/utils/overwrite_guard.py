"""One rule for every tool that writes results: never replace them unless asked."""

import os
import os.path as osp
import shutil
from typing import Iterable, List, Optional

#: How many of the existing paths a refusal names (a work dir may hold dozens of checkpoints).
NAMED = 3


def refuse_overwrite(
    paths: Iterable[str], overwrite: bool, flag: str = '--overwrite', fix: Optional[str] = None
) -> List[str]:
    """The paths that exist; raises FileExistsError naming them and the fix unless ``overwrite``.

    Callers pass the exact files or folders they are about to write, so nothing else in
    the directory counts. The fix is ``fix`` when given (a caller with other ways out, such as
    tools/train.py's ``--resume``), else: pass ``flag``, or choose another output location.
    """
    existing = [p for p in paths if osp.lexists(p)]
    if existing and not overwrite:
        named = ', '.join(existing[:NAMED])
        if len(existing) > NAMED:
            named += f' (and {len(existing) - NAMED} more)'
        it = 'it' if len(existing) == 1 else 'them'
        fix = fix or f'pass {flag} to replace {it}, or choose another output location'
        raise FileExistsError(f'refusing to overwrite {named}: {fix}.')
    return existing


def remove_paths(paths: Iterable[str]) -> None:
    """Delete files and folders (used after :func:`refuse_overwrite` allowed it)."""
    for path in paths:
        if osp.isdir(path) and not osp.islink(path):
            shutil.rmtree(path)
        elif osp.lexists(path):
            os.remove(path)
