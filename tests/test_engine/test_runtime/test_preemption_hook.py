"""Preemption: SIGUSR1/SIGTERM -> save after the iteration, exit 0; --resume continues
mid-epoch, bit-identical to an uninterrupted run. Checkpoints are never half-written."""

import glob
import multiprocessing
import os
import os.path as osp
import signal
import subprocess
import sys
import time

import pytest
import torch
from mmengine.runner import Runner

from kdcl_mm.engine.runtime.atomic_file_backend import atomic_write
from kdcl_mm.engine.runtime.preemption_hook import (
    PreemptionHook,
    ignore_signals_in_worker,
    signal_blocking_context,
)
from tests.paths import REPO
from tests.resume_utils import max_abs_difference, tiny_mnist

# Holds the run at one iteration until the test's signal has arrived, so that the signal
# lands mid-epoch at a known iteration however slow the machine is.
PROBE = """
import os, time
from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS


@HOOKS.register_module()
class SignalProbeHook(Hook):

    def __init__(self, marker, at_iter):
        self.marker, self.at_iter = marker, at_iter

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None):
        if runner.iter + 1 != self.at_iter:
            return
        [preemption] = [h for h in runner.hooks if type(h).__name__ == 'PreemptionHook']
        with open(self.marker, 'w') as f:
            f.write(str(os.getpid()))
        deadline = time.monotonic() + 300  # a safety net, not an assertion
        while preemption.received is None and time.monotonic() < deadline:
            time.sleep(0.05)
"""


def test_atomic_write_keeps_the_old_file_when_writing_fails(tmp_path, monkeypatch):
    path = tmp_path / 'epoch_1.pth'
    atomic_write(b'complete checkpoint', path)

    def killed(fd):  # the new bytes are written, the job dies before they are in place
        raise KeyboardInterrupt

    monkeypatch.setattr(os, 'fsync', killed)
    with pytest.raises(KeyboardInterrupt):
        atomic_write(b'new checkpoint', path)
    assert path.read_bytes() == b'complete checkpoint'
    assert os.listdir(tmp_path) == ['epoch_1.pth']  # no temporary left behind


def test_unknown_signal_name_is_refused():
    with pytest.raises(ValueError, match='PreemptionHook.signals: unknown signal name.*SIGFOO'):
        PreemptionHook(signals=['SIGUSR1', 'SIGFOO'])


def test_the_hook_needs_the_resumable_loop():
    class Runner:
        train_loop = object()

    with pytest.raises(ValueError, match="train_cfg.type='ResumableEpochBasedTrainLoop'"):
        PreemptionHook().before_train(Runner())


def test_sigterm_is_recorded_not_fatal_until_the_run_ends(tmp_path):
    class Loop:
        def stop_mid_epoch(self):
            pass

    class FakeRunner:
        train_loop, work_dir, model = Loop(), str(tmp_path), torch.nn.Linear(1, 1)
        train_dataloader = val_loop = None

    hook = PreemptionHook()
    previous = signal.getsignal(signal.SIGTERM)
    hook.before_train(FakeRunner())
    try:
        # Mid-iteration, mid-validation or mid-save: the process goes on, the hook remembers.
        os.kill(os.getpid(), signal.SIGTERM)
        assert hook.received == 'SIGTERM'
        os.kill(os.getpid(), signal.SIGUSR1)
        assert hook.received == 'SIGTERM'  # the first signal is the one reported
    finally:
        hook.after_run(FakeRunner())
    assert signal.getsignal(signal.SIGTERM) is previous


class Numbers(torch.utils.data.Dataset):
    def __len__(self):
        return 40

    def __getitem__(self, index):
        time.sleep(0.01)  # the workers are still loading when the signal arrives
        return index


def runner_with_loaders(loader, tmp_path):
    """What PreemptionHook reads of a Runner, with ``loader()``'s loaders for training and
    validation."""

    class Loop:
        dataloader = loader()

        def stop_mid_epoch(self):
            pass

    class FakeRunner:
        train_loop, work_dir, train_dataloader = Loop(), str(tmp_path), loader()
        val_loop, model = Loop(), torch.nn.Linear(1, 1)

    return FakeRunner


def test_dataloader_workers_ignore_the_signals_and_keep_loading(tmp_path):
    """Slurm signals every process of the job step: a worker that gets SIGTERM too must keep
    loading (torch's own handler would kill it and fail the main process mid-iteration), and
    the loader's own worker_init_fn still runs."""

    def mark(worker_id):
        (tmp_path / f'worker{worker_id}').touch()

    def loader():
        return torch.utils.data.DataLoader(
            Numbers(), batch_size=2, num_workers=2, worker_init_fn=mark
        )

    FakeRunner = runner_with_loaders(loader, tmp_path)
    hook = PreemptionHook()
    hook.before_train(FakeRunner())
    try:
        assert FakeRunner.val_loop.dataloader.worker_init_fn.func is ignore_signals_in_worker
        batches = iter(FakeRunner.train_dataloader)
        seen = next(batches).tolist()
        for worker in batches._workers:
            os.kill(worker.pid, signal.SIGTERM)
        seen += [i for batch in batches for i in batch.tolist()]
    finally:
        hook.after_run(FakeRunner())
    assert sorted(seen) == list(range(40))
    assert sorted(os.listdir(tmp_path)) == ['worker0', 'worker1']


@pytest.mark.parametrize('start_method', ['fork', 'spawn'])
def test_a_signal_while_the_workers_start_does_not_kill_them(tmp_path, monkeypatch, start_method):
    """Slurm signals at any moment, also while a loader starts its workers (each epoch, for a
    non-persistent loader). Deterministic: every worker sends itself SIGTERM at the first
    point after torch has installed its own handler (the worker calls torch.set_num_threads
    next) and before its worker_init_fn runs. Without the signals blocked from the fork on,
    torch's handler kills it there."""
    if start_method == 'spawn':
        # A spawned worker imports its code afresh: the self-signal rides on the dataset.
        dataset = SignalsItselfOnUnpickling()
    else:
        parent, set_num_threads = os.getpid(), torch.set_num_threads

        def signal_self_in_worker(n):
            if os.getpid() != parent:
                os.kill(os.getpid(), signal.SIGTERM)
            set_num_threads(n)

        monkeypatch.setattr(torch, 'set_num_threads', signal_self_in_worker)
        dataset = Numbers()

    def loader():
        return torch.utils.data.DataLoader(
            dataset, batch_size=2, num_workers=2, multiprocessing_context=start_method
        )

    FakeRunner = runner_with_loaders(loader, tmp_path)
    hook = PreemptionHook()
    hook.before_train(FakeRunner())
    try:
        for epoch in range(2 if start_method == 'fork' else 1):  # new workers each epoch
            seen = [i for batch in FakeRunner.train_dataloader for i in batch.tolist()]
            assert sorted(seen) == list(range(40)), epoch
    finally:
        hook.after_run(FakeRunner())
    assert FakeRunner.train_dataloader.multiprocessing_context.get_start_method() == start_method


class SignalsItselfOnUnpickling(Numbers):
    """A dataset that, unpickled in a spawned worker (before torch's worker loop even starts),
    sends its process SIGTERM: the signal must wait, blocked, for the worker_init_fn."""

    def __init__(self):
        self.pickled_state = True  # an object with no state is unpickled without __setstate__

    def __setstate__(self, state):
        self.__dict__.update(state)
        os.kill(os.getpid(), signal.SIGTERM)


def test_the_blocking_context_keeps_the_start_method_and_is_idempotent():
    fork = signal_blocking_context('fork', [signal.SIGTERM])
    assert fork.get_start_method() == 'fork'
    assert signal_blocking_context(fork, [signal.SIGTERM]) is fork
    default = signal_blocking_context(None, [signal.SIGTERM])
    assert default.get_start_method() == multiprocessing.get_start_method()
    # The parent's own mask is left as it was after a worker has started.
    before = signal.pthread_sigmask(signal.SIG_BLOCK, [])
    process = fork.Process(target=os._exit, args=(0,))
    process.start()
    process.join()
    assert signal.pthread_sigmask(signal.SIG_BLOCK, []) == before
    assert process.exitcode == 0


# A run whose persistent loader workers are still alive when the process exits (an in-process
# runner kept referenced, a notebook): multiprocessing terminates them at exit and waits.
EXIT_WITH_LIVE_WORKERS = """
import torch
from kdcl_mm.engine.runtime.preemption_hook import PreemptionHook


class Loop:
    dataloader = None

    def stop_mid_epoch(self):
        pass


class Runner:
    train_loop, work_dir, val_loop = Loop(), {work_dir!r}, Loop()
    train_dataloader = torch.utils.data.DataLoader(
        list(range(40)), batch_size=2, num_workers=2, persistent_workers=True
    )


PreemptionHook().before_train(Runner())
KEPT = iter(Runner.train_dataloader)
print(next(KEPT).tolist(), flush=True)
"""


def test_exit_with_live_workers_does_not_hang(tmp_path):
    """Workers that ignore SIGTERM would make multiprocessing's exit-time join wait for ever
    (the whole test suite once hung after its last test). The hook releases them at exit, and
    they end quietly, as torch's workers do on their parent's SIGTERM."""
    script = tmp_path / 'exit_with_live_workers.py'
    script.write_text(EXIT_WITH_LIVE_WORKERS.format(work_dir=str(tmp_path)))
    try:
        result = subprocess.run(
            [sys.executable, str(script)], cwd=REPO, capture_output=True, text=True, timeout=240
        )
    except subprocess.TimeoutExpired as hung:
        pytest.fail(f'the process did not exit with its loader workers alive: {hung}')
    assert result.returncode == 0, result.stderr
    # The last line: the forks' dataset modules print 'Could not import OneDL' on import.
    assert result.stdout.strip().splitlines()[-1] == '[0, 1]'
    assert 'killed by signal' not in result.stderr, result.stderr


def worker_pids(pid: int) -> list:
    """The child processes of ``pid`` (its DataLoader workers), from /proc."""
    children = []
    for task in glob.glob(f'/proc/{pid}/task/*/children'):
        with open(task) as f:
            children += [int(child) for child in f.read().split()]
    return children


def tiny_config(tmp_path, **options):
    cfg = tiny_mnist(num_labeled=24)  # 3 iterations per epoch
    cfg.merge_from_dict(
        dict(
            options,
            train_cfg=dict(max_epochs=2),
            train_dataloader=dict(num_workers=2),  # the skipped batches were loaded by workers
            data_preprocessor=dict(batch_augments=dict(augments=[dict(type='Mixup', alpha=0.4)])),
            custom_hooks=[*cfg.custom_hooks, dict(type='ExportStudentsHook')],
            default_hooks=dict(checkpoint=dict(save_best=None)),
        )
    )
    return cfg


def mmpretrain_train_py(*args, env=None):
    """mmpretrain's own tools/train.py (as installed by mim), which knows nothing of kdcl_mm but
    what the config says; it also sets default_collate and persistent workers."""
    import mmpretrain

    script = osp.join(osp.dirname(mmpretrain.__file__), '.mim', 'tools', 'train.py')
    proc = subprocess.run(
        [sys.executable, script, *map(str, args)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=600,
    )
    return proc.returncode, proc.stdout


@pytest.mark.slow
@pytest.mark.parametrize('signum', [signal.SIGTERM], ids=['SIGTERM'])
def test_signal_mid_epoch_saves_exits_0_and_resume_is_bit_identical(tmp_path, signum):
    """The signal reaches the main process and its DataLoader workers, as Slurm signals every
    process of a job step on preemption or scancel."""
    # Uninterrupted: 2 epochs of 3 iterations.
    cfg = tiny_config(tmp_path, work_dir=str(tmp_path / 'straight'))
    Runner.from_cfg(cfg).train()
    straight = torch.load(tmp_path / 'straight' / 'epoch_2.pth', weights_only=False)

    # The same config as a file, run by tools/train.py, signalled during iteration 5 (the
    # second of epoch 2).
    probe_dir, marker = tmp_path / 'probe', tmp_path / 'probe' / 'at_iteration_5'
    probe_dir.mkdir()
    (probe_dir / 'signal_probe.py').write_text(PROBE)
    cfg = tiny_config(tmp_path)
    cfg.custom_imports = dict(imports=['kdcl_mm', 'signal_probe'], allow_failed_imports=False)
    cfg.custom_hooks.append(dict(type='SignalProbeHook', marker=str(marker), at_iter=5))
    cfg.log_level = 'INFO'
    cfg.dump(tmp_path / 'tiny.py')
    work_dir = tmp_path / 'interrupted'
    # The subprocesses must compute with as many threads as this process's straight run: a
    # different thread count changes floating-point reduction order, and the runs diverge.
    env = dict(
        os.environ, PYTHONPATH=f'{REPO}:{probe_dir}', OMP_NUM_THREADS=str(torch.get_num_threads())
    )
    proc = subprocess.Popen(
        [sys.executable, 'tools/train.py', tmp_path / 'tiny.py', '--work-dir', work_dir],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        while not marker.exists() and proc.poll() is None:
            time.sleep(0.1)
        assert marker.exists(), proc.communicate()[0][-3000:]
        workers = worker_pids(proc.pid)
        assert len(workers) == 2, workers
        for pid in workers:
            os.kill(pid, signum)
        time.sleep(0.5)  # a worker that the signal killed would be noticed by now
        proc.send_signal(signum)
        out = proc.communicate(timeout=600)[0]
    finally:
        proc.kill()
    assert proc.returncode == 0, out[-3000:]
    assert (
        f'Stopped on {signal.Signals(signum).name} after iteration 2/3 of epoch 2 (iteration 5)'
    ) in out
    assert (
        sorted(os.listdir(work_dir / 'students') if (work_dir / 'students').exists() else []) == []
    )  # after_train hooks did not run
    assert (work_dir / 'last_checkpoint').read_text() == str(work_dir / 'iter_5.pth')
    assert (work_dir / 'preempted').exists()
    assert not (work_dir / 'epoch_2.pth').exists()
    assert not glob.glob(str(work_dir / '.*.tmp'))

    # --resume continues at iteration 6 (the third of epoch 2) and finishes as usual, under
    # mmpretrain's entry point too.
    rc, out = mmpretrain_train_py(
        tmp_path / 'tiny.py',
        '--work-dir',
        work_dir,
        '--resume',
        '--cfg-options',
        f'custom_hooks.{len(cfg.custom_hooks) - 1}.at_iter=0',
        env=env,
    )
    assert rc == 0, out[-3000:]
    assert 'resumed epoch: 1, iter: 5' in out
    assert not (work_dir / 'preempted').exists()
    assert (work_dir / 'students' / 'resnet18.pth').exists()
    resumed = torch.load(work_dir / 'epoch_2.pth', weights_only=False)
    difference = max_abs_difference(straight, resumed)
    print(
        f'preempted at iteration 5 by {signal.Signals(signum).name}, resumed: '
        f'max |difference| = {difference}'
    )
    assert difference == 0, f'max |difference| = {difference}'
