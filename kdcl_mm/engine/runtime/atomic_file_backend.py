"""A local file backend that never leaves a half-written file: write a temporary, then rename.

mmengine's LocalBackend opens the destination and writes into it, so a job killed while a
checkpoint is being written (Slurm's SIGKILL after the grace time, an OOM kill) leaves a
truncated ``.pth`` that ``--resume`` then fails on. Select this backend with
``backend_args=dict(backend='atomic_local')`` (CheckpointHook, Runner.save_checkpoint):
a reader sees the old file or the new one, never a part.
"""

import os
import os.path as osp
import tempfile
from pathlib import Path
from typing import Union

from mmengine.fileio import LocalBackend, register_backend

#: ``backend_args`` that select this backend.
ATOMIC_BACKEND_ARGS = dict(backend='atomic_local')


def atomic_write(data: Union[bytes, str], filepath: Union[str, Path]) -> None:
    """Write ``data`` to ``filepath`` through a temporary file in the same directory."""
    filepath = str(filepath)
    folder = osp.dirname(osp.abspath(filepath))
    os.makedirs(folder, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f'.{osp.basename(filepath)}.', suffix='.tmp')
    try:
        with os.fdopen(fd, 'wb') as f:
            f.write(data.encode('utf-8') if isinstance(data, str) else data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, filepath)  # atomic on POSIX within one filesystem
    except BaseException:
        if osp.exists(tmp):
            os.remove(tmp)
        raise


@register_backend('atomic_local')
class AtomicLocalBackend(LocalBackend):
    """LocalBackend whose ``put`` and ``put_text`` are atomic (:func:`atomic_write`)."""

    def put(self, obj: bytes, filepath: Union[str, Path]) -> None:
        atomic_write(obj, filepath)

    def put_text(self, obj: str, filepath: Union[str, Path], encoding: str = 'utf-8') -> None:
        atomic_write(obj.encode(encoding), filepath)
