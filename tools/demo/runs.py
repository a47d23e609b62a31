"""Launch the repository's tools (``tools/train.py``, ``tools/test.py``, ...) as subprocesses,
several at a time: the one launcher of the demo and of the recipe search."""

import os
import os.path as osp
import subprocess
import sys
import threading
from concurrent.futures import ThreadPoolExecutor
from typing import Callable, Iterable, List, Optional, Sequence

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


class RunFailed(SystemExit):
    """A tool exited with an error; every other run of the launcher has been stopped."""


class Launcher:
    """Runs tools with ``threads`` torch threads each and ``jobs`` at a time.

    A failure stops every run still going and raises :class:`RunFailed` naming the log.
    ``name`` prefixes its messages (``'demo'``, ``'recipe search'``).
    """

    def __init__(self, jobs: int = 1, threads: Optional[int] = None, name: str = 'demo'):
        self.jobs, self.threads, self.name = max(1, jobs), threads, name
        self.lock = threading.Lock()
        self.procs = set()
        self.failed = threading.Event()

    def run(self, cmd: Sequence[str], log: str) -> float:
        """Run ``python <cmd>`` from the repository root, output into ``log``; return its CPU
        seconds (user + system, of the child alone)."""
        os.makedirs(osp.dirname(log), exist_ok=True)
        env = dict(os.environ)
        if self.threads:
            env.update(OMP_NUM_THREADS=str(self.threads), MKL_NUM_THREADS=str(self.threads))
        with open(log, 'w') as f:
            if self.failed.is_set():
                raise RunFailed(f'{self.name}: stopped after an earlier failure')
            proc = subprocess.Popen(
                [sys.executable, *cmd], cwd=REPO, env=env, stdout=f, stderr=subprocess.STDOUT
            )
            with self.lock:
                self.procs.add(proc)
            _, status, usage = os.wait4(proc.pid, 0)  # wait4: this child's own CPU time
            proc.returncode = os.waitstatus_to_exitcode(status)
            with self.lock:
                self.procs.discard(proc)
        if proc.returncode != 0:
            self.stop_all()
            with open(log) as f:
                sys.stderr.write(''.join(f.readlines()[-30:]))
            raise RunFailed(
                f'{self.name}: `{" ".join(cmd)}` failed (exit {proc.returncode}); full log: {log}'
            )
        return usage.ru_utime + usage.ru_stime

    def stop_all(self) -> None:
        self.failed.set()
        with self.lock:
            for proc in self.procs:
                proc.terminate()

    def in_parallel(self, fn: Callable, items: Iterable) -> List:
        """``fn(item)`` for every item, ``jobs`` at a time; results in order. The first error
        stops the others and is raised."""
        with ThreadPoolExecutor(self.jobs) as pool:
            futures = [pool.submit(fn, item) for item in items]
            try:
                return [future.result() for future in futures]
            except BaseException:
                self.stop_all()
                for future in futures:
                    future.cancel()
                raise


def train_command(
    config: str, work_dir: str, options: Sequence[str], flags: Sequence[str] = ()
) -> List[str]:
    return ['tools/train.py', config, '--work-dir', work_dir, *flags, '--cfg-options', *options]


def evaluate_command(
    config: str, checkpoint: str, work_dir: str, metrics_json: str, options: Sequence[str]
) -> List[str]:
    return [
        'tools/test.py',
        config,
        checkpoint,
        '--work-dir',
        work_dir,
        '--out',
        metrics_json,
        '--cfg-options',
        *options,
    ]


def finished(work_dir: str) -> bool:
    """Whether a training run in ``work_dir`` saved its last checkpoint."""
    return osp.isfile(osp.join(work_dir, 'last_checkpoint'))


def last_checkpoint(work_dir: str) -> str:
    """The checkpoint mmengine's CheckpointHook saved last (it writes its path there)."""
    pointer = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(pointer):
        raise SystemExit(f'demo: no {pointer}: training in {work_dir} saved no checkpoint.')
    with open(pointer) as f:
        path = f.read().strip()
    return path if osp.isabs(path) else osp.join(work_dir, osp.basename(path))
