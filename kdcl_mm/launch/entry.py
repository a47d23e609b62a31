"""The command line that ``tools/train.py`` and ``tools/test.py`` share.

``--cfg-options``, ``--launcher`` and ``--local-rank`` (:func:`parse_launch_args`), the config
with the launcher, the overrides and the work dir (:func:`load_config`), and the overwrite
refusal of an entry script (:func:`exit_if_refused`, on :mod:`kdcl_mm.utils.overwrite_guard`).
"""

import argparse
import os
import os.path as osp

from mmengine.config import Config, DictAction

from kdcl_mm.utils.overwrite_guard import refuse_overwrite


def parse_launch_args(parser: argparse.ArgumentParser, cfg_options_help: str):
    """Add the options both entry scripts take (--cfg-options, --launcher, --local-rank),
    parse, and export LOCAL_RANK as torch.distributed.launch passes it."""
    parser.add_argument('--cfg-options', nargs='+', action=DictAction, help=cfg_options_help)
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


def load_config(args) -> Config:
    """``args.config`` with the launcher, --cfg-options and the work dir of the command line
    (--work-dir, else the config's, else ./work_dirs/<config name>)."""
    cfg = Config.fromfile(args.config)
    cfg.launcher = args.launcher
    if args.cfg_options:
        cfg.merge_from_dict(args.cfg_options)
    cfg.work_dir = (
        args.work_dir
        or cfg.get('work_dir')
        or osp.join('./work_dirs', osp.splitext(osp.basename(args.config))[0])
    )
    return cfg


def exit_if_refused(paths, overwrite: bool, fix: str) -> None:
    """:func:`refuse_overwrite` for an entry script: a refusal ends it with the message."""
    try:
        refuse_overwrite(paths, overwrite, fix=fix)
    except FileExistsError as err:
        raise SystemExit(str(err)) from None
