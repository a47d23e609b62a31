"""Distributed set-up for tools/train.py and tools/test.py, on GPUs or (without CUDA) on CPU.

:func:`prepare_distributed` is the one place where a ``--launcher pytorch|slurm`` run is
adapted to the machine:

* without CUDA it switches ``env_cfg.dist_cfg.backend`` to ``'gloo'`` (NCCL needs GPUs),
  wraps the model in DDP without ``device_ids``, drops ``sync_bn`` and builds the model's
  SyncBN layers as BN (torch's SyncBatchNorm only synchronises GPU tensors), and starts the
  process group itself with ``torch.distributed.init_process_group``, because mmengine's
  launchers call ``torch.cuda.set_device``, which raises without a driver. mmengine's Runner
  then finds the group initialised and uses it, as it does for any pre-initialised group;
* it defaults ``randomness.diff_rank_seed`` to True, so that every rank draws its own
  augmentations (KDCL's per-student views, batch mixes, dropout).

:func:`shutdown_distributed` ends the process group when the entry script is done.

Only the entry scripts use this module. It is installed rather than kept beside them in
``tools/`` because they run as scripts and so import only installed packages (see
:mod:`kdcl_mm.launch`).
"""

import gc
import logging
import os
import subprocess
from datetime import timedelta
from typing import List

import torch
import torch.distributed as torch_dist
from mmengine.config import Config
from mmengine.dist import get_rank
from mmengine.logging import print_log
from mmengine.registry import MODEL_WRAPPERS
from torch.nn.parallel import DistributedDataParallel


def prepare_distributed(cfg: Config) -> None:
    """Adapt a config whose ``launcher`` is not ``'none'`` to this machine (see module doc)."""
    if cfg.get('launcher', 'none') == 'none':
        return
    draw_augmentations_per_rank(cfg)
    if not torch.cuda.is_available():
        use_gloo_on_cpu(cfg)


def draw_augmentations_per_rank(cfg: Config) -> None:
    """Seed each rank differently unless the config decides (``randomness.diff_rank_seed``).

    With one seed everywhere, batch augments in the data preprocessor (Mixup, CutMix) and
    dropout repeat the same random draws on every rank. Per-sample augmentations do not
    depend on it: ``ResumableSampler`` seeds each sample from (seed, epoch, rank, index).
    mmengine still shuffles with one synchronised seed, and DDP broadcasts rank 0's initial
    weights.
    """
    randomness = dict(cfg.get('randomness') or dict(seed=None))  # the Runner's default
    randomness.setdefault('diff_rank_seed', True)
    cfg.randomness = randomness


def use_gloo_on_cpu(cfg: Config) -> None:
    """Run the distributed job on CPU with gloo and initialise its process group."""
    dist_cfg = dict((cfg.get('env_cfg') or {}).get('dist_cfg') or {})
    requested = dist_cfg.get('backend', 'nccl')
    dist_cfg['backend'] = 'gloo'
    cfg.merge_from_dict({'env_cfg.dist_cfg': dist_cfg})
    if cfg.get('sync_bn'):
        print_log(
            f'sync_bn={cfg.sync_bn!r} ignored: torch SyncBatchNorm synchronises CUDA '
            'tensors only; on CPU every rank keeps its own BN batch statistics.',
            logger='current',
            level=logging.WARNING,
        )
        cfg.sync_bn = None
    synced = plain_bn_for_sync_bn(cfg.get('model'))
    if synced:
        print_log(
            f'SyncBN replaced by BN at {", ".join(synced)}: torch SyncBatchNorm synchronises '
            'CUDA tensors only (DDP refuses it on CPU); on CPU every rank keeps its own BN '
            'batch statistics. Parameter and buffer names are the same.',
            logger='current',
            level=logging.WARNING,
        )
    cfg.model_wrapper_cfg = _ddp_without_device_ids(cfg)
    if cfg.launcher == 'slurm':
        export_slurm_rendezvous()
    elif cfg.launcher != 'pytorch':
        raise ValueError(
            f'--launcher {cfg.launcher} needs CUDA here; on CPU use --launcher '
            'pytorch (torchrun, tools/dist_train.sh) or slurm.'
        )
    if isinstance(dist_cfg.get('timeout'), (int, float)):  # seconds, as mmengine's init_dist
        dist_cfg['timeout'] = timedelta(seconds=dist_cfg['timeout'])
    # env:// reads RANK, WORLD_SIZE, MASTER_ADDR and MASTER_PORT, as torchrun sets them.
    torch_dist.init_process_group(**dist_cfg)
    if get_rank() == 0:
        print_log(
            f'CUDA is not available: the {cfg.launcher} launcher runs on CPU with the '
            f'gloo backend (env_cfg.dist_cfg.backend was {requested!r}).',
            logger='current',
        )


# The NORM_LAYERS names of mmcv's synchronised BNs (torch's, mmcv's own): CUDA only.
SYNC_BN_TYPES = ('SyncBN', 'MMSyncBN')


def plain_bn_for_sync_bn(node, path: str = 'model') -> List[str]:
    """Set every ``type='SyncBN'``/``'MMSyncBN'`` below ``node`` to ``'BN'``, in place;
    return the config paths that were changed.

    mmseg's recipes (and kdcl_mm's on top of them) build their BN layers as SyncBN, and a
    CPU process group cannot run them: DDP raises "SyncBatchNorm layers only work with GPU
    modules". mmengine's Runner reverts them for non-distributed runs; this does the same for
    the CPU fallback, before the model is built.
    """
    changed = []
    if isinstance(node, dict):
        if node.get('type') in SYNC_BN_TYPES:
            node['type'] = 'BN'
            changed.append(path)
        for key, value in node.items():
            changed += plain_bn_for_sync_bn(value, f'{path}.{key}')
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            changed += plain_bn_for_sync_bn(value, f'{path}.{i}')
    return changed


def _ddp_without_device_ids(cfg: Config) -> dict:
    # DDP rejects device_ids for CPU modules; mmengine's Runner passes [LOCAL_RANK] unless the
    # wrapper config names them. Without a wrapper config, keep the Runner's own defaults.
    wrapper = dict(
        cfg.get('model_wrapper_cfg')
        or dict(
            type='MMDistributedDataParallel',
            broadcast_buffers=False,
            find_unused_parameters=cfg.get('find_unused_parameters', False),
        )
    )
    wrapper_cls = MODEL_WRAPPERS.get(wrapper.get('type', 'MMDistributedDataParallel'))
    if isinstance(wrapper_cls, type) and issubclass(wrapper_cls, DistributedDataParallel):
        wrapper['device_ids'] = None
    return wrapper


def export_slurm_rendezvous(default_port: int = 29500) -> None:
    """The environment ``env://`` needs, from Slurm's variables (as mmengine's slurm launcher
    derives it): rank and world size from the task ids, node 0 as master."""
    nodes = os.environ['SLURM_NODELIST']
    os.environ.setdefault('MASTER_PORT', str(default_port))
    if 'MASTER_ADDR' not in os.environ:
        os.environ['MASTER_ADDR'] = subprocess.getoutput(
            f'scontrol show hostname {nodes} | head -n1'
        )
    os.environ['WORLD_SIZE'] = os.environ['SLURM_NTASKS']
    os.environ['RANK'] = os.environ['SLURM_PROCID']
    os.environ['LOCAL_RANK'] = os.environ['SLURM_LOCALID']


def shutdown_distributed() -> None:
    """Destroy the process group and free it while the interpreter is still whole.

    Call it after the Runner is gone (the entry scripts call it once ``main()`` has returned).
    mmengine never destroys the group. Left to interpreter finalisation, a gloo group's worker
    threads (``pt_gloo_runloop``) can release the last reference to a collective's tensor
    while finalisation holds the GIL; the thread is then force-exited and the process aborts
    (``terminate called without an active exception``, exit -6) after training has finished
    and saved, and torchrun reports the job failed (pytorch/pytorch#179291; the measured
    abort rates with and without this function are in docs/distributed.md). Collecting here
    runs the group's destructor, which joins those threads.
    """
    if torch_dist.is_available() and torch_dist.is_initialized():
        torch_dist.destroy_process_group()
        gc.collect()  # the DDP wrapper and the Runner sit in reference cycles
