"""Train a config with mmengine's Runner: KDCL pretraining, baselines, mmdet and mmseg.

python tools/train.py configs/kdcl/r50_mbv2_imagenet.py [--work-dir DIR] [--resume]
"""

import argparse
import os
import os.path as osp

from mmengine.config import Config
from mmengine.registry import RUNNERS

import kdcl_mm  # noqa: F401  (registers modules, kdcl_mm:: scope, checkpoint loading)
from kdcl_mm.engine import CheckedRunner
from kdcl_mm.engine.config_checks import ConfigError
from kdcl_mm.launch.dist_env import prepare_distributed, shutdown_distributed
from kdcl_mm.launch.entry import exit_if_refused, load_config, parse_launch_args


def parse_args():
    parser = argparse.ArgumentParser(description='Train a model (kdcl_mm)')
    parser.add_argument('config', help='config file path')
    parser.add_argument(
        '--work-dir', help='where logs and checkpoints go (default: ./work_dirs/<config name>)'
    )
    parser.add_argument(
        '--resume',
        nargs='?',
        type=str,
        const='auto',
        help='resume from the given checkpoint, or the latest one in work_dir',
    )
    parser.add_argument('--amp', action='store_true', help='automatic mixed precision')
    parser.add_argument('--no-validate', action='store_true', help='skip validation')
    parser.add_argument(
        '--auto-scale-lr',
        action='store_true',
        help='scale the lr by total batch size / auto_scale_lr.base_batch_size',
    )
    parser.add_argument(
        '--overwrite',
        action='store_true',
        help='allow training into a work_dir that already holds checkpoints',
    )
    return parse_launch_args(parser, 'override config entries, e.g. model.kd_loss.temperature=4')


def merge_args(cfg: Config, args) -> Config:
    """The training options of the command line, set in ``cfg`` (from :func:`load_config`)."""
    if args.amp:
        if cfg.optim_wrapper.get('type', 'OptimWrapper') == 'OptimWrapper':
            cfg.optim_wrapper.type = 'AmpOptimWrapper'
            cfg.optim_wrapper.setdefault('loss_scale', 'dynamic')
    if args.resume == 'auto':
        cfg.resume, cfg.load_from = True, None
    elif args.resume:
        cfg.resume, cfg.load_from = True, args.resume
    if args.auto_scale_lr:
        cfg.auto_scale_lr = dict(cfg.get('auto_scale_lr') or {}, enable=True)
    if args.no_validate:
        cfg.val_cfg = cfg.val_dataloader = cfg.val_evaluator = None
    return cfg


def refuse_to_overwrite(cfg: Config, args) -> None:
    """Stop before training over the checkpoints in work_dir, unless resuming or asked to."""
    if cfg.get('resume') or not osp.isdir(cfg.work_dir):
        return
    checkpoints = sorted(f for f in os.listdir(cfg.work_dir) if f.endswith('.pth'))
    exit_if_refused(
        [osp.join(cfg.work_dir, f) for f in checkpoints],
        args.overwrite,
        fix=f'work_dir {cfg.work_dir} already holds checkpoints and training would overwrite '
        'them. Pass --resume to continue, --work-dir to train elsewhere, or --overwrite',
    )


def main():
    args = parse_args()
    cfg = merge_args(load_config(args), args)
    refuse_to_overwrite(cfg, args)
    prepare_distributed(cfg)  # gloo on CPU, per-rank augmentation seeds
    # As mmpretrain's tools/train.py, but a config that names no runner (mmdet's, mmseg's)
    # gets CheckedRunner too: its checks run once, before data or model are built.
    try:
        runner = RUNNERS.build(cfg) if 'runner_type' in cfg else CheckedRunner.from_cfg(cfg)
    except ConfigError as err:
        raise SystemExit(f'error: {err}') from None
    runner.train()


if __name__ == '__main__':
    try:
        main()
    finally:  # after main() returned, so the Runner and its DDP model can be freed
        shutdown_distributed()
