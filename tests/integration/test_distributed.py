"""Distributed KDCL through the real launch scripts: 2 processes on CPU with gloo.

The runs train a tiny KDCL (General soft target, held-out split) with ``tools/dist_train.sh``,
evaluate it with ``tools/dist_test.sh`` and ``tools/slurm_test.sh`` (through a stand-in
``srun``), train the MNIST-COCO Faster R-CNN recipe, resume bit-identically, and end cleanly
when a rank is lost or cannot load its batch. A test-only hook (tests/fixtures/dist/) saves
what each rank holds at the end of the run, so the ranks can be compared. The scripts' input
checks are in tests/test_tools/test_dist_scripts.py, the unit tests of dist_env in
tests/test_launch/test_dist_env.py.
"""

import os
import os.path as osp
import shutil
import signal
import time

import pytest
import torch

from tests.launch_utils import (
    FIXTURES,
    finish,
    free_port,
    needs_two_cores,
    run_script,
    script_env,
    start_script,
)
from tests.paths import REPO
from tests.resume_utils import max_abs_difference

MNIST_KDCL = osp.join(REPO, 'configs', 'kdcl', 'resnet18-w16_mbv2-w0.5_mnist.py')
MNIST_GENERAL = osp.join(REPO, 'configs', 'kdcl', 'resnet18-w16_mbv2-w0.5_mnist_general.py')
MNIST_COCO_DETECTOR = osp.join(REPO, 'configs', 'mmdet', 'faster-rcnn_r18-w16_fpn_mnist-coco.py')
NUM_VAL, NUM_TEST = 25, 23  # odd: the 2-rank sampler pads each with one duplicate
# torchrun stops the other workers as soon as one dies (it checks every 0.1 s), with SIGTERM and,
# 30 s later, SIGKILL: a lost rank ends the job well within this (docs/distributed.md).
LOST_RANK_BOUND = 120

pytestmark = pytest.mark.dist


def load_ranks(work_dir):
    return [torch.load(osp.join(work_dir, f'rank{r}.pth'), weights_only=False) for r in (0, 1)]


def fill_template(name, path, **values):
    with open(osp.join(FIXTURES, name)) as f:
        text = f.read()
    path.write_text(text.format(**values))
    return str(path)


@pytest.fixture(scope='module')
def kdcl_config(tmp_path_factory):
    return fill_template(
        'tiny_kdcl_general.py.in',
        tmp_path_factory.mktemp('cfg') / 'tiny_kdcl_general.py',
        base=MNIST_KDCL,
        num_val=NUM_VAL,
        num_test=NUM_TEST,
    )


@pytest.fixture(scope='module')
def kdcl_run(tmp_path_factory, kdcl_config):
    """One 2-process KDCL training run: (work_dir, [rank0 record, rank1 record])."""
    needs_two_cores()
    work_dir = str(tmp_path_factory.mktemp('kdcl_run'))
    rc, out = run_script(
        'dist_train.sh', kdcl_config, 2, '--work-dir', work_dir, env=script_env(PYTHONPATH=FIXTURES)
    )
    assert rc == 0, out[-5000:]
    return work_dir, load_ranks(work_dir)


@pytest.mark.slow
def test_kdcl_trains_under_ddp_on_cpu_with_gloo(kdcl_run):
    work_dir, ranks = kdcl_run
    for record in ranks:
        assert record['backend'] == 'gloo'  # the config asked for nccl
        assert record['world_size'] == 2
        assert record['wrapper'] == 'MMDistributedDataParallel'
        # 4 iterations ran with find_unused_parameters off: DDP raises from the second
        # iteration on if any student parameter got no gradient.
        assert record['find_unused_parameters'] is False
    assert osp.isfile(osp.join(work_dir, 'epoch_2.pth'))
    assert osp.isfile(osp.join(work_dir, 'students', 'resnet18.pth'))


@pytest.mark.slow
def test_parameters_identical_across_ranks(kdcl_run):
    _, (rank0, rank1) = kdcl_run
    assert rank0['parameters'].keys() == rank1['parameters'].keys()
    assert any(k.startswith('students.1.') for k in rank0['parameters'])
    for name, value in rank0['parameters'].items():
        assert torch.equal(value, rank1['parameters'][name]), name
    # BN running statistics are not synchronised (broadcast_buffers=False): that they differ
    # shows the ranks trained on different samples, so equal weights come from DDP.
    running_means = [k for k in rank0['buffers'] if k.endswith('running_mean')]
    assert any(not torch.equal(rank0['buffers'][k], rank1['buffers'][k]) for k in running_means)


@pytest.mark.slow
def test_general_weights_identical_across_ranks(kdcl_run):
    _, (rank0, rank1) = kdcl_run
    weights = [r['buffers']['soft_target.weights'] for r in (rank0, rank1)]
    assert all(bool(r['buffers']['soft_target.estimated']) for r in (rank0, rank1))
    assert not torch.allclose(weights[0], torch.full((2,), 0.5))  # estimated, not the initial
    assert torch.equal(weights[0], weights[1])


@pytest.mark.slow
def test_views_drawn_independently_on_each_rank(kdcl_run):
    _, (rank0, rank1) = kdcl_run
    for record in (rank0, rank1):
        first, second = record['views']
        assert len(first) == 2  # one view per student
        assert not torch.equal(first[0], first[1])  # students see different views
        assert not torch.equal(first[0], second[0])  # redrawn every time
    assert not torch.equal(rank0['views'][0][0], rank1['views'][0][0])


@pytest.mark.slow
def test_validation_scores_every_sample_exactly_once(kdcl_run):
    _, ranks = kdcl_run
    for record in ranks:
        assert len(record['val_metrics']) == 2  # val_interval=1, 2 epochs
        for metrics in record['val_metrics']:
            # 2 ranks x 13 = 26 predictions; collect_results drops the sampler's padding.
            assert metrics['probe/scored'] == NUM_VAL
            assert metrics['probe/distinct'] == NUM_VAL


@pytest.mark.slow
def test_dist_test_scores_every_sample_exactly_once(kdcl_run, kdcl_config, tmp_path):
    work_dir, _ = kdcl_run
    rc, out = run_script(
        'dist_test.sh',
        kdcl_config,
        osp.join(work_dir, 'epoch_2.pth'),
        2,
        '--work-dir',
        tmp_path,
        env=script_env(PYTHONPATH=FIXTURES),
    )
    assert rc == 0, out[-5000:]
    for record in load_ranks(tmp_path):
        assert record['backend'] == 'gloo'
        assert [m['probe/scored'] for m in record['test_metrics']] == [NUM_TEST]
        assert [m['probe/distinct'] for m in record['test_metrics']] == [NUM_TEST]


@pytest.mark.slow
def test_slurm_test_launches_with_slurm_launcher(kdcl_run, kdcl_config, tmp_path):
    work_dir, _ = kdcl_run
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    shutil.copy(osp.join(FIXTURES, 'srun'), bin_dir / 'srun')  # runs the tasks here
    (bin_dir / 'srun').chmod(0o755)
    # mmengine's Slurm launcher needs MASTER_PORT (no torchrun here to pick one).
    env = script_env(
        PYTHONPATH=FIXTURES,
        GPUS='2',
        GRES='',
        MASTER_ADDR='127.0.0.1',
        MASTER_PORT=str(free_port()),
        PATH=f'{bin_dir}:{os.environ["PATH"]}',
    )
    out_dir = tmp_path / 'out'
    rc, out = run_script(
        'slurm_test.sh',
        'cpu',
        'tiny',
        kdcl_config,
        osp.join(work_dir, 'epoch_2.pth'),
        '--work-dir',
        out_dir,
        env=env,
    )
    assert rc == 0, out[-5000:]
    for record in load_ranks(out_dir):
        assert (record['backend'], record['world_size']) == ('gloo', 2)
        assert [m['probe/scored'] for m in record['test_metrics']] == [NUM_TEST]


@pytest.mark.slow
def test_mmdet_detector_trains_with_two_processes(tmp_path):
    """The MNIST-COCO Faster R-CNN recipe, 4 train / 2 val canvases, 2 iterations, 2 ranks."""
    needs_two_cores()
    from tools.dataset_converters.mnist_coco import generate_mnist_coco

    root = str(tmp_path / 'mnist_coco') + '/'
    generate_mnist_coco(
        root, num_train=4, num_val=2, num_test=1, canvas_size=64, scale=(16, 32), progress=False
    )
    config = fill_template(
        'tiny_detector.py.in', tmp_path / 'tiny_detector.py', base=MNIST_COCO_DETECTOR, root=root
    )
    work_dir = tmp_path / 'work'
    rc, out = run_script('dist_train.sh', config, 2, '--work-dir', work_dir, env=script_env())
    assert rc == 0, out[-5000:]
    assert osp.isfile(work_dir / 'epoch_2.pth')
    assert 'the pytorch launcher runs on CPU with the gloo backend' in out
    # Validation over both ranks' images reached CocoMetric.
    assert 'coco/bbox_mAP:' in out, out[-5000:]


# ---- resume, a lost rank, a rank that cannot load its batch ----


@pytest.fixture(scope='module')
def resume_cfg():
    """The General recipe shrunk to 2 epochs of 2 iterations per rank, with Mixup (drawn on
    every rank in the main process), drop-path in the ResNet student (random state per rank)
    and a checkpoint every epoch."""
    from mmengine.config import Config

    from tests.resume_utils import tiny_options

    cfg = Config.fromfile(MNIST_GENERAL)
    cfg.merge_from_dict(tiny_options(cfg, num_labeled=32))  # 2 iterations per epoch and rank
    cfg.merge_from_dict(
        dict(
            custom_imports=dict(imports=['kdcl_mm', 'dist_probe'], allow_failed_imports=False),
            custom_hooks=[*cfg.custom_hooks, dict(type='RankProbeHook')],
            train_cfg=dict(max_epochs=2),
            data_preprocessor=dict(batch_augments=dict(augments=[dict(type='Mixup', alpha=0.4)])),
            default_hooks=dict(
                checkpoint=dict(
                    type='CheckpointHook', interval=1, save_best=None, max_keep_ckpts=-1
                )
            ),
        )
    )
    cfg.model.students[0].backbone.drop_path_rate = 0.2
    return cfg


def dump(cfg, path, *extra_hooks) -> str:
    """``cfg`` as a file, with test-only hooks of tests/fixtures/dist/dist_probe.py added."""
    cfg = cfg.copy()
    cfg.custom_hooks = [*cfg.custom_hooks, *extra_hooks]
    cfg.dump(str(path))
    return str(path)


@pytest.fixture(scope='module')
def straight_run(tmp_path_factory, resume_cfg):
    """2 epochs on 2 processes, never interrupted."""
    needs_two_cores()
    work_dir = str(tmp_path_factory.mktemp('straight'))
    rc, out = run_script(
        'dist_train.sh',
        dump(resume_cfg, tmp_path_factory.mktemp('straight_cfg') / 'tiny_resume.py'),
        2,
        '--work-dir',
        work_dir,
        env=script_env(PYTHONPATH=FIXTURES),
    )
    assert rc == 0, out[-5000:]
    return work_dir


def differences(straight, resumed):
    """max |difference| of the final checkpoints and of every rank's parameters and buffers."""
    found = [
        max_abs_difference(
            *(
                torch.load(osp.join(d, 'epoch_2.pth'), weights_only=False)
                for d in (straight, resumed)
            )
        )
    ]
    for rank_a, rank_b in zip(load_ranks(straight), load_ranks(resumed)):
        found += [
            float((rank_a[kind][k].double() - rank_b[kind][k].double()).abs().max())
            for kind in ('parameters', 'buffers')
            for k in rank_a[kind]
        ]
    return max(found)


@pytest.mark.slow
def test_two_process_resume_is_bit_identical_on_every_rank(tmp_path, resume_cfg, straight_run):
    """tools/dist_train.sh with 2 CPU processes: 2 epochs straight versus the same run resumed
    from its epoch-1 checkpoint (issue 14). Every rank's parameters and buffers (BN statistics
    are per rank; General's weights), and rank 0's optimizer state, must match bit for bit."""
    resumed = str(tmp_path / 'resumed')
    rc, out = run_script(
        'dist_train.sh',
        dump(resume_cfg, tmp_path / 'tiny_resume.py'),
        2,
        '--work-dir',
        resumed,
        '--resume',
        osp.join(straight_run, 'epoch_1.pth'),
        env=script_env(PYTHONPATH=FIXTURES),
    )
    assert rc == 0, out[-5000:]
    assert sorted(f for f in os.listdir(resumed) if f.endswith('.pth')) == [
        'epoch_2.pth',
        'rank0.pth',
        'rank1.pth',
    ]  # it started after epoch 1
    difference = differences(straight_run, resumed)
    print(f'2 processes, resumed from epoch 1: max |difference| = {difference}')
    assert difference == 0, f'max |difference| = {difference}'


@pytest.mark.slow
def test_lean_mode_under_ddp_is_bit_identical_on_every_rank(tmp_path, resume_cfg, straight_run):
    """model.lean=True under one DDP wrapper, 2 gloo processes, 4 steps with BatchNorm,
    drop-path and Mixup: every rank's parameters and buffers and the final checkpoint equal
    the default mode's. (Why one wrapper around the KDCL model and not one per student:
    kdcl_mm/models/classifiers/lean.py.)"""
    lean = resume_cfg.copy()
    lean.model.lean = True
    rc, out = run_script(
        'dist_train.sh',
        dump(lean, tmp_path / 'tiny_lean.py'),
        2,
        '--work-dir',
        tmp_path / 'lean',
        env=script_env(PYTHONPATH=FIXTURES),
    )
    assert rc == 0, out[-5000:]
    difference = differences(straight_run, str(tmp_path / 'lean'))
    print(f'2 processes, lean versus default: max |difference| = {difference}')
    assert difference == 0, f'max |difference| = {difference}'


@pytest.mark.slow
def test_a_sigkilled_rank_ends_the_job_and_resume_continues_exactly(
    tmp_path, resume_cfg, straight_run
):
    """Rank 1 is SIGKILLed after iteration 3 (mid-run, the first of epoch 2): rank 0 and
    torchrun exit non-zero within LOST_RANK_BOUND seconds, nothing hangs, and --resume from
    the last checkpoint (epoch 1) ends bit-identical to the run that was never killed."""
    work_dir, marker = tmp_path / 'killed', tmp_path / 'rank1_at_iteration_3'
    hold = dict(type='HoldAtIterationHook', marker=str(marker), at=3)
    config = dump(resume_cfg, tmp_path / 'tiny_killed.py', hold)
    env = script_env(PYTHONPATH=FIXTURES)
    proc = start_script('dist_train.sh', config, 2, '--work-dir', work_dir, env=env)
    deadline = time.monotonic() + 600  # a safety net, not an assertion
    while not marker.exists() and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.2)
    assert marker.exists(), finish(proc, 'the run to be killed')[1][-5000:]
    os.kill(int(marker.read_text()), signal.SIGKILL)
    killed_at = time.monotonic()
    rc, out = finish(proc, 'the job with a lost rank', timeout=LOST_RANK_BOUND)
    print(f'a lost rank ended the job in {time.monotonic() - killed_at:.1f} s (rc {rc})')
    assert rc != 0
    assert 'Signal 9 (SIGKILL)' in out  # torchrun's report on rank 1
    # Rank 0 saw its peer go and said that it saves nothing without it.
    assert 'No emergency checkpoint after' in out, out[-5000:]
    assert (work_dir / 'last_checkpoint').read_text() == str(work_dir / 'epoch_1.pth')

    hold_index = len(resume_cfg.custom_hooks)
    rc, out = run_script(
        'dist_train.sh',
        config,
        2,
        '--work-dir',
        work_dir,
        '--resume',
        '--cfg-options',
        f'custom_hooks.{hold_index}.at=0',  # hold no more
        env=env,
    )
    assert rc == 0, out[-5000:]
    difference = differences(straight_run, work_dir)
    print(f'2 processes, rank 1 killed at iteration 3, resumed: max |difference| = {difference}')
    assert difference == 0, f'max |difference| = {difference}'


@pytest.mark.slow
def test_a_rank_that_cannot_load_its_batch_stops_every_rank_and_all_save(tmp_path, resume_cfg):
    config = dump(resume_cfg, tmp_path / 'tiny_fail.py', dict(type='FailLoadingHook', at=4))
    rc, out = run_script(
        'dist_train.sh', config, 2, '--work-dir', tmp_path, env=script_env(PYTHONPATH=FIXTURES)
    )
    assert rc != 0
    assert 'SampleLoadError: cannot load training sample' in out  # rank 1's own error
    assert 'rank 1 could not load its batch of iteration 4, so every rank stops' in out
    path = tmp_path / 'emergency_iter_3.pth'
    assert (tmp_path / 'last_checkpoint').read_text() == str(path)
    checkpoint = torch.load(path, weights_only=False)
    assert checkpoint['rng_state']['world_size'] == 2  # both ranks' random state and buffers
    assert all('buffers' in state for state in checkpoint['rng_state']['states'])
