"""tests/conftest.py's exit watchdog: a pytest session that cannot exit fails, names the child
it waits for and kills it, instead of running until CI's time limit."""

import os
import subprocess
import sys

import pytest

from tests.paths import REPO


@pytest.mark.slow
def test_a_session_that_hangs_at_exit_fails_with_the_child_named():
    env = dict(os.environ, KDCL_TEST_EXIT_GRACE_S='2')
    cmd = [
        sys.executable,
        '-m',
        'pytest',
        '-q',
        '-p',
        'no:cacheprovider',
        'tests/fixtures/hangs_at_exit.py',
    ]
    proc = subprocess.run(cmd, cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    assert proc.returncode == 3, proc.stdout + proc.stderr
    assert '1 passed' in proc.stdout
    assert 'did not exit 2.0 s after the session ended' in proc.stderr
    assert 'ForkProcess-1 (pid ' in proc.stderr and '_exit_function' in proc.stderr
    child_pid = int(proc.stderr.split('ForkProcess-1 (pid ')[1].split(')')[0])
    assert not os.path.exists(f'/proc/{child_pid}') or _is_zombie(child_pid)


def _is_zombie(pid):
    with open(f'/proc/{pid}/stat') as f:
        return f.read().split(')')[1].split()[0] == 'Z'
