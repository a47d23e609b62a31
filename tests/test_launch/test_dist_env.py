"""kdcl_mm.launch.dist_env in this process (a 1-process gloo group): the CPU fallback
rewrites the config, the process group is shut down cleanly, ranks draw their own
augmentations; and SyncBN converts every student's BN (what the Runner does under DDP)."""

import gc
import logging
import os
import os.path as osp
from unittest import mock

import pytest
import torch
from mmengine.config import Config

from kdcl_mm.launch.dist_env import (
    draw_augmentations_per_rank,
    prepare_distributed,
    shutdown_distributed,
    use_gloo_on_cpu,
)
from tests.launch_utils import free_port
from tests.paths import REPO

MNIST_KDCL = osp.join(REPO, 'configs', 'kdcl', 'resnet18-w16_mbv2-w0.5_mnist.py')


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
    settings = dict(launcher='none', env_cfg=dict(dist_cfg=dict(backend='nccl')))
    cfg = Config(settings)
    prepare_distributed(cfg)
    assert cfg.to_dict() == settings


def test_rank_seeds_default_to_different_and_an_explicit_choice_is_kept():
    cfg = Config(dict(launcher='pytorch'))  # mmdet's and mmseg's runtimes set no randomness
    draw_augmentations_per_rank(cfg)
    assert cfg.randomness == dict(seed=None, diff_rank_seed=True)
    cfg = Config(dict(launcher='pytorch', randomness=dict(seed=3, diff_rank_seed=False)))
    draw_augmentations_per_rank(cfg)
    assert cfg.randomness == dict(seed=3, diff_rank_seed=False)


def test_sync_bn_torch_converts_every_student_bn():
    """``sync_bn='torch'``: mmengine's Runner.wrap_model applies ``convert_sync_batchnorm``
    to the whole KDCL model before DDP (on GPUs only: DDP rejects SyncBN on CPU modules)."""
    from mmengine.model import convert_sync_batchnorm
    from torch.nn.modules.batchnorm import _BatchNorm

    from kdcl_mm.registry import MODELS

    model = MODELS.build(Config.fromfile(MNIST_KDCL).model)
    keys = model.state_dict().keys()
    model = convert_sync_batchnorm(model, 'torch')
    norms = [(name, type(m)) for name, m in model.named_modules() if isinstance(m, _BatchNorm)]
    assert {name.split('.')[:2] == ['students', '0'] for name, _ in norms} == {True, False}
    assert {name.split('.')[0] for name, _ in norms} == {'students'}
    assert {cls for _, cls in norms} == {torch.nn.SyncBatchNorm}
    assert model.state_dict().keys() == keys  # checkpoints and exported students still load


def test_cpu_fallback_builds_a_segmentor_s_sync_bn_as_bn_so_ddp_can_wrap_it(one_process_group):
    """mmseg's recipes build their BN layers as SyncBN; DDP refuses them on CPU ("SyncBatchNorm
    layers only work with GPU modules"), so ``tools/dist_train.sh`` failed on a CPU node."""
    from mmengine.model import MMDistributedDataParallel
    from mmseg.registry import MODELS

    config = osp.join(REPO, 'configs', 'mmseg', 'fpn_r50-kdcl_4xb4-80k_coco-stuff164k-512x512.py')
    cfg = Config.fromfile(config)
    cfg.launcher = 'pytorch'
    cfg.model.backbone.init_cfg = None
    with mock.patch('kdcl_mm.launch.dist_env.print_log') as print_log:
        use_gloo_on_cpu(cfg)
    changed = ['model.backbone.norm_cfg', 'model.decode_head.norm_cfg']
    assert [cfg.model.backbone.norm_cfg.type, cfg.model.decode_head.norm_cfg.type] == ['BN'] * 2
    [warning] = [c for c in print_log.call_args_list if c.kwargs.get('level') == logging.WARNING]
    assert warning.args[0].startswith(f'SyncBN replaced by BN at {", ".join(changed)}:')
    model = MODELS.build(cfg.model)
    assert not any(isinstance(m, torch.nn.SyncBatchNorm) for m in model.modules())
    MMDistributedDataParallel(module=model, device_ids=None)
