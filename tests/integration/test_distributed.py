"""Distributed KDCL through the real launch scripts: 2 processes on CPU with gloo.

The end-to-end tests train a tiny KDCL (General soft target, held-out split) with
``tools/dist_train.sh``, evaluate it with ``tools/dist_test.sh`` and ``tools/slurm_test.sh``
(through a stand-in ``srun``), and train a tiny RetinaNet on MNIST-COCO. A test-only hook
saves what each rank holds at the end of the run, so the ranks can be compared.
"""

import os
import os.path as osp
import shutil
import signal
import socket
import subprocess
import sys
from unittest import mock

import pytest
import torch

from tests.paths import REPO

MNIST_KDCL = osp.join(REPO, 'configs', 'kdcl', 'resnet18-w16_mbv2-w0.5_mnist.py')
MNIST_COCO_DETECTOR = osp.join(REPO, 'configs', 'mmdet', 'faster-rcnn_r18-w16_fpn_mnist-coco.py')
RUN_TIMEOUT = 600  # seconds; a tiny 2-process run takes well under a minute
BAD_INPUT_TIMEOUT = 60  # generous for a loaded machine; the scripts exit after a torch import
NUM_VAL, NUM_TEST = 25, 23  # odd: the 2-rank sampler pads each with one duplicate

PROBE_MODULE = '''
"""Test-only: what each rank holds, saved to work_dir/rank{r}.pth at the end of the run."""
import os.path as osp

import torch
import torch.distributed as dist
from mmengine.evaluator import BaseMetric
from mmengine.hooks import Hook
from mmpretrain.registry import HOOKS, METRICS


@METRICS.register_module()
class ScoredSampleIds(BaseMetric):
    """How many samples the evaluator scored, and how many distinct ones."""
    default_prefix = 'probe'

    def process(self, data_batch, data_samples):
        self.results.extend(int(s['sample_idx']) for s in data_samples)

    def compute_metrics(self, results):
        return dict(scored=len(results), distinct=len(set(results)))


@HOOKS.register_module()
class RankProbeHook(Hook):

    def __init__(self):
        self.record = dict(val_metrics=[], test_metrics=[])

    def before_train_epoch(self, runner):
        if runner.epoch == 0:
            # Two draws of one image's views from the RNG the loader uses (num_workers=0).
            dataset = runner.train_dataloader.dataset
            self.record['views'] = [dataset[0]['inputs'] for _ in range(2)]

    def after_val_epoch(self, runner, metrics=None):
        self.record['val_metrics'].append(dict(metrics))

    def after_test_epoch(self, runner, metrics=None):
        self.record['test_metrics'].append(dict(metrics))

    def after_run(self, runner):
        model = runner.model
        self.record.update(
            backend=dist.get_backend(),
            world_size=dist.get_world_size(),
            wrapper=type(model).__name__,
            find_unused_parameters=model.find_unused_parameters,
            parameters={k: v.detach().clone() for k, v in model.module.named_parameters()},
            buffers={k: v.detach().clone() for k, v in model.module.named_buffers()})
        torch.save(self.record, osp.join(runner.work_dir, f'rank{runner.rank}.pth'))
'''

KDCL_CONFIG = """
_base_ = {base!r}
custom_imports = dict(imports=['kdcl_mm', 'dist_probe'], allow_failed_imports=False)
env_cfg = dict(dist_cfg=dict(backend='nccl'))  # mmpretrain's default; the tools switch to gloo

size = 32
view = [dict(type='Resize', scale=(size, size)),
        dict(type='RandomCrop', crop_size=size, padding=4),
        dict(type='ColorJitter', brightness=0.3, contrast=0.3)]
train_pipeline = [dict(type='MultiView', num_views=2, transforms=[view]), dict(type='PackInputs')]
test_pipeline = [dict(type='Resize', scale=(size, size)), dict(type='PackInputs')]
labeled = dict(type='MNISTDigits', split='train', num_labeled=40)
heldout = dict(ratio=0.2, seed=0)

model = dict(soft_target=dict(_delete_=True, type='GeneralSoftTarget'))
train_dataloader = dict(
    batch_size=8,
    dataset=dict(_delete_=True, type='HeldOutSplit', part='train', **heldout,
                 dataset=dict(labeled, pipeline=train_pipeline)))
val_dataloader = dict(batch_size=4, dataset=dict(indices={num_val}, pipeline=test_pipeline))
test_dataloader = dict(batch_size=4, dataset=dict(indices={num_test}, pipeline=test_pipeline))
val_evaluator = [dict(type='KDCLAccuracy', topk=(1, )), dict(type='ScoredSampleIds')]
test_evaluator = val_evaluator
custom_hooks = [
    dict(type='GeneralWeightsHook',
         heldout_dataloader=dict(
             batch_size=4, num_workers=0,
             dataset=dict(type='HeldOutSplit', part='heldout', **heldout,
                          dataset=dict(labeled, pipeline=test_pipeline)),
             sampler=dict(type='DefaultSampler', shuffle=False))),
    dict(type='ExportStudentsHook'),
    dict(type='RankProbeHook'),
]
train_cfg = dict(max_epochs=2)
param_scheduler = [dict(type='ConstantLR', factor=1.0, by_epoch=True, begin=0, end=2)]
"""

DETECTOR_CONFIG = """
_base_ = {base!r}
model = dict(backbone=dict(init_cfg=None),  # no exported student here
             test_cfg=dict(rcnn=dict(score_thr=0.0)))  # untrained boxes still reach CocoMetric
train_dataloader = dict(batch_size=2, dataset=dict(data_root={root!r}))
val_dataloader = dict(batch_size=1, dataset=dict(data_root={root!r}))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file={root!r} + 'annotations/instances_val.json')
test_evaluator = val_evaluator
train_cfg = dict(max_epochs=2, val_interval=2)
randomness = dict(seed=0)
"""

pytestmark = pytest.mark.dist


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


def run_script(script, *args, env, timeout=RUN_TIMEOUT):
    """Run tools/<script>; on timeout kill its whole process group (torchrun and workers)."""
    proc = subprocess.Popen(
        ['bash', osp.join(REPO, 'tools', script), *map(str, args)],
        cwd=REPO,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        start_new_session=True,
    )
    try:
        out, _ = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, _ = proc.communicate()
        pytest.fail(f'{script} did not finish within {timeout} s:\n{out[-5000:]}')
    return proc.returncode, out


def load_ranks(work_dir):
    return [torch.load(osp.join(work_dir, f'rank{r}.pth'), weights_only=False) for r in (0, 1)]


def needs_two_cores():
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip('the CPU fallback runs at most one process per core; 2 are needed')


@pytest.fixture(scope='module')
def probe_dir(tmp_path_factory):
    path = tmp_path_factory.mktemp('probe')
    (path / 'dist_probe.py').write_text(PROBE_MODULE)
    return str(path)


@pytest.fixture(scope='module')
def kdcl_config(tmp_path_factory):
    path = tmp_path_factory.mktemp('cfg') / 'tiny_kdcl_general.py'
    path.write_text(KDCL_CONFIG.format(base=MNIST_KDCL, num_val=NUM_VAL, num_test=NUM_TEST))
    return str(path)


@pytest.fixture(scope='module')
def kdcl_run(tmp_path_factory, probe_dir, kdcl_config):
    """One 2-process KDCL training run: (work_dir, [rank0 record, rank1 record])."""
    needs_two_cores()
    work_dir = str(tmp_path_factory.mktemp('kdcl_run'))
    rc, out = run_script(
        'dist_train.sh',
        kdcl_config,
        2,
        '--work-dir',
        work_dir,
        env=script_env(PYTHONPATH=probe_dir),
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
def test_dist_test_scores_every_sample_exactly_once(kdcl_run, kdcl_config, probe_dir, tmp_path):
    work_dir, _ = kdcl_run
    rc, out = run_script(
        'dist_test.sh',
        kdcl_config,
        osp.join(work_dir, 'epoch_2.pth'),
        2,
        '--work-dir',
        tmp_path,
        env=script_env(PYTHONPATH=probe_dir),
    )
    assert rc == 0, out[-5000:]
    for record in load_ranks(tmp_path):
        assert record['backend'] == 'gloo'
        assert [m['probe/scored'] for m in record['test_metrics']] == [NUM_TEST]
        assert [m['probe/distinct'] for m in record['test_metrics']] == [NUM_TEST]


FAKE_SRUN = """#!/usr/bin/env bash
# Stand-in for Slurm's srun: runs --ntasks copies of the command here, with SLURM_* set.
ntasks=1
while [[ $1 == -* ]]; do
    case $1 in --ntasks=*) ntasks=${1#*=} ;; esac
    shift
done
pids=()
for ((i = 0; i < ntasks; i++)); do
    SLURM_PROCID=$i SLURM_LOCALID=$i SLURM_NTASKS=$ntasks SLURM_NODELIST=localhost "$@" &
    pids+=($!)
done
rc=0
for pid in "${pids[@]}"; do wait "$pid" || rc=$?; done
exit $rc
"""


@pytest.mark.slow
def test_slurm_test_launches_with_slurm_launcher(kdcl_run, kdcl_config, probe_dir, tmp_path):
    work_dir, _ = kdcl_run
    bin_dir = tmp_path / 'bin'
    bin_dir.mkdir()
    (bin_dir / 'srun').write_text(FAKE_SRUN)
    (bin_dir / 'srun').chmod(0o755)
    # mmengine's Slurm launcher needs MASTER_PORT (no torchrun here to pick one).
    env = script_env(
        PYTHONPATH=probe_dir,
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
    config = tmp_path / 'tiny_detector.py'
    config.write_text(DETECTOR_CONFIG.format(base=MNIST_COCO_DETECTOR, root=root))
    work_dir = tmp_path / 'work'
    rc, out = run_script('dist_train.sh', config, 2, '--work-dir', work_dir, env=script_env())
    assert rc == 0, out[-5000:]
    assert osp.isfile(work_dir / 'epoch_2.pth')
    assert 'the pytorch launcher runs on CPU with the gloo backend' in out
    # Validation over both ranks' images reached CocoMetric.
    assert 'coco/bbox_mAP:' in out, out[-5000:]


# ---- bad input: a clear message and a non-zero exit, before any worker starts ----


def cpu_cores() -> int:
    return len(os.sched_getaffinity(0))


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


# ---- the CPU fallback and SyncBN, in this process (a 1-process gloo group) ----


@pytest.fixture
def one_process_group():
    env = dict(
        RANK='0',
        LOCAL_RANK='0',
        WORLD_SIZE='1',
        MASTER_ADDR='127.0.0.1',
        MASTER_PORT=str(free_port()),
    )
    with mock.patch.dict(os.environ, env):
        yield
        if torch.distributed.is_initialized():
            torch.distributed.destroy_process_group()


def test_cpu_fallback_rewrites_the_config(one_process_group):
    from mmengine.config import Config

    from kdcl_mm.engine.runtime.dist_env import draw_augmentations_per_rank, use_gloo_on_cpu

    cfg = Config(
        dict(
            launcher='pytorch',
            sync_bn='torch',
            find_unused_parameters=True,
            env_cfg=dict(dist_cfg=dict(backend='nccl', timeout=60)),
            randomness=dict(seed=3),
        )
    )
    use_gloo_on_cpu(cfg)
    draw_augmentations_per_rank(cfg)
    assert torch.distributed.get_backend() == 'gloo'
    assert cfg.env_cfg.dist_cfg == dict(backend='gloo', timeout=60)
    assert cfg.sync_bn is None
    assert cfg.model_wrapper_cfg == dict(
        type='MMDistributedDataParallel',
        device_ids=None,
        broadcast_buffers=False,
        find_unused_parameters=True,
    )
    assert cfg.randomness == dict(seed=3, diff_rank_seed=True)


def gloo_worker_threads() -> int:
    # Native threads are invisible to ``threading``; Linux names them in /proc.
    tasks = '/proc/self/task'
    names = []
    for task in os.listdir(tasks):
        try:
            with open(osp.join(tasks, task, 'comm')) as f:
                names.append(f.read().strip())
        except FileNotFoundError:  # the thread ended while we looked
            pass
    return names.count('pt_gloo_runloop')


@pytest.mark.skipif(not osp.isdir('/proc/self/task'), reason='counts threads through /proc')
def test_shutdown_joins_the_gloo_threads_before_the_interpreter_exits(one_process_group):
    """The entry scripts end with shutdown_distributed(): a gloo worker thread still alive at
    interpreter finalisation can abort the process after training (exit -6; the 2-process
    mmdet test failed in CI so). The DDP model sits in a reference cycle, as in the Runner."""
    import gc

    from kdcl_mm.engine.runtime.dist_env import shutdown_distributed

    gc.collect()
    before = gloo_worker_threads()

    def train():
        torch.distributed.init_process_group('gloo')
        runner = type('Runner', (), {})()
        runner.runner, runner.model = (
            runner,
            torch.nn.parallel.DistributedDataParallel(torch.nn.Linear(4, 2)),
        )
        runner.model(torch.randn(3, 4)).sum().backward()
        return gloo_worker_threads()

    during = train()
    assert during > before  # premise: the group runs worker threads
    shutdown_distributed()
    assert not torch.distributed.is_initialized()
    assert gloo_worker_threads() == before


def test_no_launcher_leaves_the_config_alone():
    from mmengine.config import Config

    from kdcl_mm.engine.runtime.dist_env import prepare_distributed

    settings = dict(launcher='none', env_cfg=dict(dist_cfg=dict(backend='nccl')))
    cfg = Config(settings)
    prepare_distributed(cfg)
    assert cfg.to_dict() == settings


def test_rank_seeds_default_to_different_and_an_explicit_choice_is_kept():
    from mmengine.config import Config

    from kdcl_mm.engine.runtime.dist_env import draw_augmentations_per_rank

    cfg = Config(dict(launcher='pytorch'))  # mmdet's and mmseg's runtimes set no randomness
    draw_augmentations_per_rank(cfg)
    assert cfg.randomness == dict(seed=None, diff_rank_seed=True)
    cfg = Config(dict(launcher='pytorch', randomness=dict(seed=3, diff_rank_seed=False)))
    draw_augmentations_per_rank(cfg)
    assert cfg.randomness == dict(seed=3, diff_rank_seed=False)


def test_sync_bn_torch_converts_every_student_bn():
    """``sync_bn='torch'``: mmengine's Runner.wrap_model applies ``convert_sync_batchnorm``
    to the whole KDCL model before DDP (on GPUs only: DDP rejects SyncBN on CPU modules)."""
    from mmengine.config import Config
    from mmengine.model import convert_sync_batchnorm
    from mmpretrain.registry import MODELS
    from torch.nn.modules.batchnorm import _BatchNorm

    model = MODELS.build(Config.fromfile(MNIST_KDCL).model)
    keys = model.state_dict().keys()
    model = convert_sync_batchnorm(model, 'torch')
    norms = [(name, type(m)) for name, m in model.named_modules() if isinstance(m, _BatchNorm)]
    assert {name.split('.')[:2] == ['students', '0'] for name, _ in norms} == {True, False}
    assert {name.split('.')[0] for name, _ in norms} == {'students'}
    assert {cls for _, cls in norms} == {torch.nn.SyncBatchNorm}
    assert model.state_dict().keys() == keys  # checkpoints and exported students still load


@pytest.mark.slow
def test_two_process_resume_is_bit_identical_on_every_rank(tmp_path, probe_dir):
    """tools/dist_train.sh with 2 CPU processes: 2 epochs straight versus the same run resumed
    from its epoch-1 checkpoint (issue 14). Every rank's parameters and buffers (BN statistics
    are per rank; General's weights), and rank 0's optimizer state, must match bit for bit."""
    needs_two_cores()
    from mmengine.config import Config

    from tests.resume_utils import max_abs_difference, tiny_options

    cfg = Config.fromfile(
        osp.join(REPO, 'configs', 'kdcl', 'resnet18-w16_mbv2-w0.5_mnist_general.py')
    )
    cfg.merge_from_dict(tiny_options(cfg, num_labeled=32))  # 2 iterations per epoch and rank
    cfg.merge_from_dict(
        dict(
            custom_imports=dict(imports=['kdcl_mm', 'dist_probe'], allow_failed_imports=False),
            custom_hooks=[*cfg.custom_hooks, dict(type='RankProbeHook')],
            train_cfg=dict(max_epochs=2),
            # Mixup draws on every rank in the main process, between loading and the model.
            data_preprocessor=dict(batch_augments=dict(augments=[dict(type='Mixup', alpha=0.4)])),
            default_hooks=dict(
                checkpoint=dict(
                    type='CheckpointHook', interval=1, save_best=None, max_keep_ckpts=-1
                )
            ),
        )
    )
    config = str(tmp_path / 'tiny_resume.py')
    cfg.dump(config)
    env = script_env(PYTHONPATH=probe_dir)
    straight, resumed = str(tmp_path / 'straight'), str(tmp_path / 'resumed')
    rc, out = run_script('dist_train.sh', config, 2, '--work-dir', straight, env=env)
    assert rc == 0, out[-5000:]
    rc, out = run_script(
        'dist_train.sh',
        config,
        2,
        '--work-dir',
        resumed,
        '--resume',
        osp.join(straight, 'epoch_1.pth'),
        env=env,
    )
    assert rc == 0, out[-5000:]
    assert sorted(f for f in os.listdir(resumed) if f.endswith('.pth')) == [
        'epoch_2.pth',
        'rank0.pth',
        'rank1.pth',
    ]  # it started after epoch 1
    differences = [
        max_abs_difference(
            *(
                torch.load(osp.join(d, 'epoch_2.pth'), weights_only=False)
                for d in (straight, resumed)
            )
        )
    ]
    for rank_a, rank_b in zip(load_ranks(straight), load_ranks(resumed)):
        differences += [
            float((rank_a[kind][k].double() - rank_b[kind][k].double()).abs().max())
            for kind in ('parameters', 'buffers')
            for k in rank_a[kind]
        ]
    print(f'2 processes, resumed from epoch 1: max |difference| = {max(differences)}')
    assert max(differences) == 0, f'max |difference| = {max(differences)}'
