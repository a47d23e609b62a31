"""The demo's command line (docs/demo.md), run as ``bash tools/run_demo.sh [--quick | --full]
...`` or ``python -m tools.demo.run_demo ...`` from the repository root. Each mode's defaults
are :data:`tools.demo.settings.MODES`; the steps are :mod:`tools.demo.pipeline`'s.
``--report-only`` re-renders an earlier demo's report from its runs, e.g. after the report
code changed: ``bash tools/run_demo.sh --report-only --out-dir work_dirs/demo_full --overwrite``.
"""

import argparse
import os
import os.path as osp

from .settings import DOWNSTREAM_CONFIGS, MODES, REPO


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='KDCL end to end on MNIST, CPU only (docs/demo.md)'
    )
    modes = parser.add_mutually_exclusive_group()
    modes.add_argument('--quick', action='store_true', help=MODES['quick'].summary)
    modes.add_argument('--full', action='store_true', help=MODES['full'].summary)
    parser.add_argument(
        '--out-dir',
        default=None,
        help='where runs and report go (default: work_dirs/demo, and work_dirs/demo_quick or '
        'work_dirs/demo_full for --quick or --full, so that no mode refuses after another)',
    )
    parser.add_argument(
        '--seeds',
        type=int,
        nargs='+',
        default=None,
        help='seeds of KDCL and solo training (default: 0 1 2; quick: 0; full: 0 1 2 3 4)',
    )
    parser.add_argument(
        '--ablation-seeds',
        type=int,
        nargs='*',
        default=None,
        help='seeds of the generator ablation (default: the first two of '
        '--seeds, to stay within 30 minutes on 2 cores; quick: none; full: all)',
    )
    parser.add_argument(
        '--downstream-seeds',
        type=int,
        nargs='+',
        default=None,
        help='seeds whose backbones go downstream (default: the first of '
        '--seeds; full: all of them)',
    )
    parser.add_argument(
        '--downstream-students',
        nargs='+',
        default=None,
        choices=list(DOWNSTREAM_CONFIGS),
        help='students whose backbones go downstream (default: resnet18; quick and full: both)',
    )
    parser.add_argument(
        '--data-dir',
        default=osp.join(REPO, 'data', 'mnist_coco'),
        help='MNIST-COCO folder, generated there if missing (default: data/mnist_coco)',
    )
    parser.add_argument(
        '--jobs',
        type=int,
        default=min(2, os.cpu_count() or 1),
        help='runs at a time (default: 2, or 1 on one core)',
    )
    parser.add_argument(
        '--threads', type=int, default=None, help='torch threads per run (default: cores / jobs)'
    )
    parser.add_argument(
        '--overwrite',
        action='store_true',
        help='delete the results of an earlier demo in --out-dir first (with --report-only: '
        'its report only)',
    )
    parser.add_argument(
        '--resume',
        action='store_true',
        help='go on with the demo in --out-dir, e.g. after an interruption: its finished runs '
        'are kept and skipped, the others run, then the report (an existing report is '
        'replaced only with --overwrite)',
    )
    parser.add_argument(
        '--report-only',
        action='store_true',
        help='train nothing: rebuild report.md, report.json and the plots of the demo in '
        '--out-dir from its manifest.json and runs, with the report code of this checkout',
    )
    args = parser.parse_args(argv)
    if args.resume and args.report_only:
        parser.error('--resume trains what is missing; --report-only trains nothing: pick one')
    if args.report_only:
        # The runs decide what the report holds; a selection here would be silently ignored.
        given = [
            flag
            for flag, value in (
                ('--seeds', args.seeds),
                ('--ablation-seeds', args.ablation_seeds),
                ('--downstream-seeds', args.downstream_seeds),
                ('--downstream-students', args.downstream_students),
            )
            if value is not None
        ]
        if given:
            parser.error(
                '--report-only reports the runs that the manifest.json of --out-dir lists; '
                f'{", ".join(given)} cannot change them.'
            )
    args.mode = 'quick' if args.quick else 'full' if args.full else 'default'
    mode = MODES[args.mode]
    if args.out_dir is None:
        args.out_dir = default_out_dir(args.mode)
    # make passes the refusal's fix in its own terms (`make demo OVERWRITE=1`).
    args.overwrite_fix = os.environ.get('KDCL_OVERWRITE_FIX') or None
    if args.seeds is None:
        args.seeds = list(mode.seeds)
    if args.ablation_seeds is None:
        args.ablation_seeds = args.seeds[: mode.ablation_seeds]
    if args.downstream_seeds is None:
        args.downstream_seeds = args.seeds[: mode.downstream_seeds]
    if args.downstream_students is None:
        args.downstream_students = list(mode.downstream_students)
    unknown = sorted(set(args.downstream_seeds) - set(args.seeds))
    if unknown:
        parser.error(
            f'--downstream-seeds {unknown} are not in --seeds {args.seeds}: the '
            'downstream runs start from the backbones those seeds trained.'
        )
    if args.jobs < 1 or (args.threads is not None and args.threads < 1):
        parser.error('--jobs and --threads must be at least 1')
    if args.threads is None:
        args.threads = max(1, (os.cpu_count() or 1) // args.jobs)
    # tools/run_demo.sh runs this from the repository root; paths are the caller's.
    caller = os.environ.get('KDCL_DEMO_CALLER_DIR', os.getcwd())
    args.out_dir, args.data_dir = (
        osp.abspath(osp.join(caller, p)) for p in (args.out_dir, args.data_dir)
    )
    return args


def default_out_dir(mode: str) -> str:
    return 'work_dirs/demo' if mode == 'default' else f'work_dirs/demo_{mode}'


def main(argv=None):
    args = parse_args(argv)
    from .pipeline import Demo, report_only  # mmengine and torch: not on --help

    if args.report_only:
        report_only(args)
    else:
        Demo(args)()


if __name__ == '__main__':
    main()
