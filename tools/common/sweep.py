"""The sweep core of the demo, the recipe search and the fault injection: jobs, one launcher,
skip-if-finished.

A :class:`Job` trains a config into ``<out>/runs/<name>/seed<seed>`` with ``tools/train.py``
and, if asked, tests its last checkpoint with ``tools/test.py``. :class:`Sweep` runs jobs as
subprocesses, ``--jobs`` at a time (:class:`Launcher`), announcing each, and skips the jobs
that already finished: a search that was interrupted resumes, and a grid can be extended.
"""

import os
import os.path as osp
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

from .mnist_recipes import REPO, SOLO_CONFIGS

TEST_METRICS = 'test_metrics.json'


class RunFailed(SystemExit):
    """A tool exited with an error; every other run of the launcher has been stopped."""


class Launcher:
    """Runs tools with ``threads`` torch threads each and ``jobs`` at a time.

    A failure stops every run still going and raises :class:`RunFailed` naming the log, unless
    ``is_outcome(log)`` says that it is the run's result (the fault injection's divergence
    guard stopping a run). ``name`` prefixes its messages (``'demo'``, ``'recipe search'``).
    """

    def __init__(
        self,
        jobs: int = 1,
        threads: Optional[int] = None,
        name: str = 'demo',
        is_outcome: Optional[Callable[[str], bool]] = None,
    ):
        self.jobs, self.threads, self.name = max(1, jobs), threads, name
        self.is_outcome = is_outcome
        self.lock = threading.Lock()
        self.procs = set()
        self.failed = threading.Event()

    def run(self, cmd: Sequence[str], log: str) -> float:
        """Run ``python <cmd>`` from the repository root, output into ``log``; return its CPU
        seconds."""
        returncode, cpu = self.spawn(cmd, log)
        if returncode != 0 and not (self.is_outcome and self.is_outcome(log)):
            self.stop_all()
            with open(log) as f:
                sys.stderr.write(''.join(f.readlines()[-30:]))
            raise RunFailed(
                f'{self.name}: `{" ".join(cmd)}` failed (exit {returncode}); full log: {log}'
            )
        return cpu

    def spawn(self, cmd: Sequence[str], log: str) -> Tuple[int, float]:
        """The child ``python <cmd>``: its exit code and CPU seconds (user + system, its own)."""
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
            with self.lock:
                self.procs.discard(proc)
        return os.waitstatus_to_exitcode(status), usage.ru_utime + usage.ru_stime

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


class Progress:
    """``[<name> i/total | minutes, ~N min left] what`` for each step, and each step's wall and
    CPU time.

    Each step has a kind (by default its title; a sweep's job: its run name, the same for
    every seed). The time left is an estimate at the pace so far: each step not finished is
    taken to last as long as the finished steps of its kind did on average (the mean of all
    finished steps for a kind not seen yet), less what a running one has run already; their
    sum is scaled by the wall time per second of step time so far, which is how many steps
    run at once. So the demo's downstream runs, longer than its first steps, are estimated
    from their own kind once one has finished. No estimate before :data:`PACE_AFTER` steps
    have finished.

    ``plan``: the kinds of every step to come, which fixes the total. Without it the count
    grows with what :meth:`expect` announces (the recipe search learns its runs stage by
    stage), and so does the estimate; ``total`` alone fixes the count with kinds unknown.
    """

    # One step is no pace: the demo's first (MNIST-COCO, found) takes no time at all.
    PACE_AFTER = 2

    def __init__(
        self, name: str, total: Optional[int] = None, plan: Optional[Sequence[str]] = None
    ):
        self.name, self.plan = name, Counter(plan or ())
        self.fixed = total is not None or plan is not None
        self.total = len(plan) if plan is not None else total or 0
        self.done, self.steps = 0, []
        self.kinds: List[str] = []  # of self.steps, in the same order
        self.running: Dict[int, Tuple[str, float]] = {}  # kind and start of each running step
        self.lock = threading.Lock()
        self.started = time.time()

    def expect(self, kinds: Sequence[str]) -> None:
        """Steps of ``kinds`` are to come (counted unless the total is fixed)."""
        if not self.fixed:
            self.total += len(kinds)
            self.plan.update(kinds)

    def skip(self, kinds: Sequence[str]) -> None:
        """Planned steps of ``kinds`` will not run (a sweep found them finished)."""
        if self.fixed:
            self.total -= len(kinds)
            self.plan.subtract(kinds)

    def left(self, minutes: float) -> str:
        """``', ~N min left'`` after ``minutes`` at the pace so far; ``''`` before
        :data:`PACE_AFTER` steps have finished."""
        if len(self.steps) < self.PACE_AFTER:
            return ''
        now = time.time()
        walls: Dict[str, List[float]] = {}
        for kind, step in zip(self.kinds, self.steps):
            walls.setdefault(kind, []).append(step['wall_s'])
        finished_seconds = sum(s['wall_s'] for s in self.steps)
        overall = finished_seconds / len(self.steps)

        def expected(kind: str) -> float:
            return sum(walls[kind]) / len(walls[kind]) if kind in walls else overall

        to_come = self.plan - Counter(self.kinds)
        unplanned = max(0, self.total - len(self.steps) - sum(to_come.values()))
        seconds_left = sum(n * expected(kind) for kind, n in to_come.items())
        seconds_left += unplanned * overall
        run_so_far = 0.0
        for kind, start in self.running.values():
            run_so_far += now - start
            seconds_left -= min(now - start, expected(kind))
        step_seconds = finished_seconds + run_so_far
        left = minutes / step_seconds * seconds_left if step_seconds > 0 else 0.0
        return ', <1 min left' if left < 0.5 else f', ~{left:.0f} min left'

    @contextmanager
    def step(self, what: str, title: str, kind: Optional[str] = None):
        """Announce ``what``; on leaving, record step ``title`` (of ``kind``, by default the
        title) with its wall time and the CPU seconds of the commands it ran (the body appends
        them to the list it is given)."""
        kind = title if kind is None else kind
        with self.lock:
            self.done += 1
            minutes = (time.time() - self.started) / 60
            print(
                f'[{self.name} {self.done}/{self.total} | {minutes:5.1f} min{self.left(minutes)}] '
                f'{what}',
                flush=True,
            )
            key, start, cpu = self.done, time.time(), []
            self.running[key] = (kind, start)
        try:
            yield cpu
        finally:
            wall = time.time() - start
            with self.lock:
                del self.running[key]
        with self.lock:
            self.steps.append(dict(name=title, wall_s=round(wall, 1), cpu_s=round(sum(cpu), 1)))
            self.kinds.append(kind)
            print(f'    finished {title} in {wall:.0f} s (CPU {sum(cpu):.0f} s)', flush=True)


@dataclass
class Job:
    """Train ``config`` into ``runs/<name>/seed<seed>``; with ``test``, test its last checkpoint.

    ``options`` are ``--cfg-options`` after the seed; ``record`` is what the demo's manifest
    says about the run (the sweep does not read it).
    """

    title: str
    name: str
    config: str
    seed: int
    options: List[str] = field(default_factory=list)
    record: dict = field(default_factory=dict)
    train_flags: tuple = ()
    test: bool = True


class Sweep:
    """Runs :class:`Job` s into ``out_dir``, skipping those that finished. A job whose training
    failed with a result (the launcher's ``is_outcome``) is not tested and counts as finished.
    """

    def __init__(self, out_dir: str, launcher: Launcher, progress: Progress):
        self.out, self.launcher, self.progress = out_dir, launcher, progress

    def work_dir(self, job: Job) -> str:
        return run_dir(self.out, job.name, job.seed)

    def train_log(self, job: Job) -> str:
        return osp.join(self.work_dir(job), 'train.log')

    def test_metrics(self, job: Job) -> str:
        return osp.join(self.work_dir(job), TEST_METRICS)

    def stopped(self, job: Job) -> bool:
        """Whether the job's training failed with a result (the launcher's ``is_outcome``)."""
        log, is_outcome = self.train_log(job), self.launcher.is_outcome
        return bool(is_outcome and osp.isfile(log) and is_outcome(log))

    def finished(self, job: Job) -> bool:
        tested = not job.test or osp.isfile(self.test_metrics(job))
        return (finished(self.work_dir(job)) and tested) or self.stopped(job)

    def run(self, jobs: Sequence[Job], launch: bool = True) -> None:
        """Run every job that has not finished (``launch=False``: only count them)."""
        done = [self.finished(job) for job in jobs]
        pending = [job for job, finished in zip(jobs, done) if not finished]
        print(
            f'{self.launcher.name}: {len(jobs)} runs, {len(jobs) - len(pending)} already done, '
            f'{len(pending)} to run, {self.launcher.jobs} at a time',
            flush=True,
        )
        if launch:
            self.progress.skip([job.name for job, finished in zip(jobs, done) if finished])
        if launch and pending:
            self.progress.expect([job.name for job in pending])
            self.launcher.in_parallel(self.run_job, pending)

    def run_job(self, job: Job) -> None:
        work_dir = self.work_dir(job)
        what = f'{job.title}: {"train + test" if job.test else "train"}'
        options = ['--cfg-options', f'randomness.seed={job.seed}', *job.options]
        with self.progress.step(
            f'{what} (logs in {osp.relpath(work_dir, self.out)})', job.title, kind=job.name
        ) as cpu:
            # --overwrite: an interrupted run (checkpoints, no last one) starts over, same budget.
            train = ['tools/train.py', job.config, '--work-dir', work_dir, '--overwrite']
            train += [*job.train_flags, *options]
            cpu.append(self.launcher.run(train, self.train_log(job)))
            if job.test and not self.stopped(job):
                test = ['tools/test.py', job.config, last_checkpoint(work_dir)]
                test += ['--work-dir', osp.join(work_dir, 'test'), '--out', self.test_metrics(job)]
                cpu.append(self.launcher.run([*test, *options], osp.join(work_dir, 'test.log')))


def solo_job(student: str, seed: int, options: Sequence[str] = (), test: bool = True) -> Job:
    """``student`` trained alone (its baseline config), as the demo and the search run it."""
    title, record = f'{student} alone, seed {seed}', dict(kind='solo', student=student)
    config = SOLO_CONFIGS[student]
    return Job(title, f'solo_{student}', config, seed, list(options), record, test=test)


def write_config(
    out_dir: str, name: str, base: str, about: str, keys: dict, lines: Sequence[str] = ()
) -> str:
    """Write ``<out_dir>/configs/<name>.py`` and return its path: a config that inherits
    ``base`` (mmengine's ``_base_``; a path relative to the repository root or absolute), sets
    ``keys`` (merged into the base's values as mmengine merges a child config), then runs
    ``lines``, Python that may read ``_base_``. ``about`` heads it as a comment."""
    text = [f'# {about}', f'_base_ = {osp.join(REPO, base)!r}']
    text += [f'{key} = {value!r}' for key, value in keys.items()]
    path = osp.join(out_dir, 'configs', f'{name}.py')
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write('\n'.join([*text, *lines, '']))
    return path


def run_dir(out_dir: str, name: str, seed: int) -> str:
    """Where a sweep into ``out_dir`` trains run ``name`` with ``seed``."""
    return osp.join(out_dir, 'runs', name, f'seed{seed}')


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
