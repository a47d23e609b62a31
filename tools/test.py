"""Evaluate a checkpoint with mmengine's Runner (KDCL, exported students, mmdet, mmseg).

python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out results.pkl]
"""

import argparse
import os
import os.path as osp

from mmengine.config import Config, DictAction
from mmengine.dist import is_main_process
from mmengine.runner import Runner

import kdcl_mm  # noqa: F401  (registers modules, kdcl_mm:: scope, checkpoint loading)
from kdcl_mm.engine.runtime.dist_env import prepare_distributed, shutdown_distributed
from kdcl_mm.utils.overwrite_guard import refuse_overwrite


def parse_args():
    parser = argparse.ArgumentParser(description='Test a checkpoint (kdcl_mm)')
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='where logs and metrics go')
    parser.add_argument('--out', help='dump the metrics to this json/pkl/yaml file')
    parser.add_argument(
        '--cfg-options', nargs='+', action=DictAction, help='override config entries'
    )
    parser.add_argument(
        '--launcher',
        choices=['none', 'pytorch', 'slurm', 'mpi'],
        default='none',
        help='job launcher',
    )
    parser.add_argument('--local_rank', '--local-rank', type=int, default=0)
    args = parser.parse_args()
    os.environ.setdefault('LOCAL_RANK', str(args.local_rank))
    return args


def main():
    args = parse_args()
    if not osp.isfile(args.checkpoint):
        raise SystemExit(f'checkpoint {args.checkpoint!r} does not exist')
    if args.out:  # before the test runs, so that no evaluation is spent on a refusal
        try:
            refuse_overwrite([args.out], False, fix='pass another --out, or delete it')
        except FileExistsError as err:
            raise SystemExit(str(err)) from None
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    cfg.work_dir = (
        args.work_dir
        or cfg.get('work_dir')
        or osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    )
    cfg.load_from = args.checkpoint
    prepare_distributed(cfg)  # gloo on CPU, per-rank augmentation seeds
    runner = Runner.from_cfg(cfg)
    metrics = runner.test()
    if args.out and is_main_process():  # every rank holds the same metrics
        import mmengine

        mmengine.dump(metrics, args.out)
        print(f'metrics written to {args.out}')


if __name__ == '__main__':
    try:
        main()
    finally:  # after main() returned, so the Runner and its DDP model can be freed
        shutdown_distributed()
