"""Evaluate a checkpoint with mmengine's Runner (KDCL, exported students, mmdet, mmseg).

python tools/test.py CONFIG CHECKPOINT [--work-dir DIR] [--out results.pkl]
"""

import argparse
import os.path as osp

from mmengine.dist import is_main_process
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

import kdcl_mm  # noqa: F401  (registers modules, kdcl_mm:: scope, checkpoint loading)
from kdcl_mm.launch.dist_env import prepare_distributed, shutdown_distributed
from kdcl_mm.launch.entry import exit_if_refused, load_config, parse_launch_args


def parse_args():
    parser = argparse.ArgumentParser(description='Test a checkpoint (kdcl_mm)')
    parser.add_argument('config', help='config file path')
    parser.add_argument('checkpoint', help='checkpoint file')
    parser.add_argument('--work-dir', help='where logs and metrics go')
    parser.add_argument('--out', help='dump the metrics to this json/pkl/yaml file')
    return parse_launch_args(parser, 'override config entries')


def main():
    args = parse_args()
    if not osp.isfile(args.checkpoint):
        raise SystemExit(f'checkpoint {args.checkpoint!r} does not exist')
    if args.out:  # before the test runs, so that no evaluation is spent on a refusal
        exit_if_refused([args.out], False, fix='pass another --out, or delete it')
    cfg = load_config(args)
    cfg.load_from = args.checkpoint
    prepare_distributed(cfg)  # gloo on CPU, per-rank augmentation seeds
    # The config's runner_type (kdcl_mm's recipes: CheckedRunner), as mmpretrain's test.py does.
    runner = RUNNERS.build(cfg) if 'runner_type' in cfg else Runner.from_cfg(cfg)
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
