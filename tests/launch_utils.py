"""Shared by the tests that run tools/dist_*.sh and tools/slurm_*.sh: their environment, a
runner that cannot leave processes behind, and the machine checks they need."""

import os
import os.path as osp
import signal
import socket
import subprocess
import sys

import pytest

from tests.paths import REPO

RUN_TIMEOUT = 600  # seconds; a tiny 2-process run takes well under a minute
BAD_INPUT_TIMEOUT = 60  # generous for a loaded machine; the scripts exit after a torch import
FIXTURES = osp.join(REPO, 'tests', 'fixtures', 'dist')


def free_port() -> int:
    with socket.socket() as s:
        s.bind(('', 0))
        return s.getsockname()[1]


def script_env(**extra) -> dict:
    # CUDA hidden: the CPU/gloo path is tested on every machine, GPU or not. No MASTER_PORT:
    # the launcher then lets torchrun bind a free port itself; a port probed free here could be
    # taken by another process before torchrun binds it (a test failed so under load).
    env = dict(os.environ, PYTHON=sys.executable, CUDA_VISIBLE_DEVICES='', OMP_NUM_THREADS='1')
    env.pop('MASTER_PORT', None)
    return dict(env, **extra)


def start_script(script, *args, env) -> subprocess.Popen:
    """Start tools/<script> in its own process group (torchrun and its workers)."""
    return subprocess.Popen(
        ['bash', osp.join(REPO, 'tools', script), *map(str, args)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )


def finish(proc: subprocess.Popen, what: str, timeout=RUN_TIMEOUT):
    """(returncode, output); on timeout kill the whole process group and fail."""
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f'{what} did not finish within {timeout} s:\n{out[-5000:]}')
    return proc.returncode, out


def run_script(script, *args, env, timeout=RUN_TIMEOUT):
    """Run tools/<script>; on timeout kill its whole process group (torchrun and workers)."""
    return finish(start_script(script, *args, env=env), script, timeout)


def cpu_cores() -> int:
    return len(os.sched_getaffinity(0))


def needs_two_cores():
    if cpu_cores() < 2:
        pytest.skip('the CPU fallback runs at most one process per core; 2 are needed')
