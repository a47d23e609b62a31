"""tools/dist_*.sh and tools/slurm_*.sh refuse bad input with a clear message and a non-zero
exit before any worker starts; slurm_train.sh resumes a requeued job."""

import os
import shutil
import socket
import subprocess

import pytest

from tests.launch_utils import BAD_INPUT_TIMEOUT, cpu_cores, run_script, script_env
from tests.paths import REPO

MNIST_KDCL = os.path.join(REPO, 'configs', 'kdcl', 'resnet18-w16_mbv2-w0.5_mnist.py')


@pytest.mark.parametrize(
    'script,args',
    [
        ('dist_train.sh', [MNIST_KDCL]),
        ('dist_test.sh', [MNIST_KDCL, MNIST_KDCL]),  # any existing file passes the checkpoint check
    ],
)
def test_too_many_processes_is_refused(script, args):
    rc, out = run_script(
        script, *args, cpu_cores() + 1, env=script_env(), timeout=BAD_INPUT_TIMEOUT
    )
    assert rc != 0
    assert f'GPUS={cpu_cores() + 1}' in out and f'pass GPUS <= {cpu_cores()}' in out


@pytest.mark.parametrize('gpus', ['0', 'two', '-1'])
def test_gpus_must_be_a_positive_integer(gpus):
    rc, out = run_script(
        'dist_train.sh', MNIST_KDCL, gpus, env=script_env(), timeout=BAD_INPUT_TIMEOUT
    )
    assert rc != 0
    assert 'GPUS must be an integer >= 1' in out


def test_master_port_in_use_is_refused():
    with socket.socket() as busy:
        busy.bind(('127.0.0.1', 0))
        busy.listen()
        port = busy.getsockname()[1]
        env = script_env()
        env['MASTER_PORT'] = str(port)
        rc, out = run_script('dist_train.sh', MNIST_KDCL, 1, env=env, timeout=BAD_INPUT_TIMEOUT)
    assert rc != 0
    assert f'MASTER_PORT={port} is already in use' in out
    assert 'torch.distributed' not in out  # nothing was launched


def test_missing_config_and_checkpoint_are_named(tmp_path):
    rc, out = run_script(
        'dist_train.sh', tmp_path / 'nope.py', 1, env=script_env(), timeout=BAD_INPUT_TIMEOUT
    )
    assert rc != 0 and f"config '{tmp_path / 'nope.py'}' does not exist" in out
    rc, out = run_script(
        'dist_test.sh',
        MNIST_KDCL,
        tmp_path / 'nope.pth',
        1,
        env=script_env(),
        timeout=BAD_INPUT_TIMEOUT,
    )
    assert rc != 0 and f"checkpoint '{tmp_path / 'nope.pth'}' does not exist" in out


def test_slurm_scripts_without_srun_say_so(tmp_path):
    if shutil.which('srun', path='/usr/bin:/bin'):
        pytest.skip('Slurm is installed system-wide here')
    env = script_env(PATH='/usr/bin:/bin')
    rc, out = run_script(
        'slurm_train.sh', 'gpu', 'job', MNIST_KDCL, tmp_path, env=env, timeout=BAD_INPUT_TIMEOUT
    )
    assert rc != 0 and 'srun not found' in out


@pytest.mark.parametrize(
    'restarts,args,resumes',
    [
        ('0', [], False),  # first attempt: as given
        ('1', [], True),  # requeued: continue from the last checkpoint
        ('2', ['--resume', 'w/iter_5.pth'], False),  # an explicit --resume is kept as it is
    ],
)
def test_slurm_train_resumes_a_requeued_job(tmp_path, restarts, args, resumes):
    (tmp_path / 'srun').write_text('#!/usr/bin/env bash\necho "$@"\n')  # prints the command
    (tmp_path / 'srun').chmod(0o755)
    env = dict(os.environ, PATH=f'{tmp_path}:{os.environ["PATH"]}', SLURM_RESTART_COUNT=restarts)
    out = subprocess.run(
        ['bash', 'tools/slurm_train.sh', 'part', 'job', MNIST_KDCL, 'w', *args],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    expected = ['--work-dir', 'w', '--launcher', 'slurm', *args] + ['--resume'] * resumes
    assert out.split()[-len(expected) :] == expected
