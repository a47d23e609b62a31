"""Measure what KDCL costs over training its students alone (see docs/benchmark.md).

Run from the repository root:

    # CPU, the MNIST recipe's students (minutes); --quick: seconds
    python -m tools.analysis_tools.benchmark_kdcl --out-dir work_dirs/benchmark
    # GPU: ResNet-50 + MobileNetV2, 224x224, batch 64, fp16 AMP
    python -m tools.analysis_tools.benchmark_kdcl --device cuda --preset imagenet \\
        --channels-last --out-dir work_dirs/benchmark_imagenet

The code lives in tools/analysis_tools/benchmark/ (its ``overhead`` mode; the GPU check,
``gpu_check.py``, is its other mode).
"""

import argparse
import dataclasses

from mmengine.logging import MMLogger

import kdcl_mm  # noqa: F401  (registers modules)
from kdcl_mm.models.soft_targets import GENERATORS
from tools.analysis_tools.benchmark.report import check_out_dir, format_markdown, write_report
from tools.analysis_tools.benchmark.run import run_benchmark
from tools.analysis_tools.benchmark.settings import BenchmarkSettings, preset_settings


def parse_ratio_targets(values):
    """``['1.03', 'Linear=1.05']`` -> every measured generator 1.03, Linear 1.05."""
    default, targets = None, {}
    for value in values or []:
        name, _, number = value.rpartition('=')
        if name and name not in GENERATORS:
            raise SystemExit(
                f'--ratio-target {value}: {name!r} is not a generator; choose '
                f'from {list(GENERATORS)}'
            )
        try:
            number = float(number)
        except ValueError:
            raise SystemExit(
                f'--ratio-target {value}: expected R or GENERATOR=R, e.g. 1.03 or Linear=1.05'
            )
        if name:
            targets[name] = number
        else:
            default = number
    return default, targets


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out-dir', required=True, help='where benchmark.json/.md go')
    parser.add_argument('--overwrite', action='store_true', help='replace an earlier report')
    parser.add_argument(
        '--preset',
        choices=['small', 'imagenet'],
        default='small',
        help='small: MNIST students 64x64, batch 32 (CPU); imagenet: '
        'ResNet-50 + MobileNetV2 224x224, batch 64, fp16 AMP (GPU)',
    )
    parser.add_argument('--quick', action='store_true', help='a run of seconds (for tests)')
    parser.add_argument('--config', help="a KDCL config to measure instead of the preset's")
    parser.add_argument('--device', default='cpu', help='cpu or cuda[:N]')
    parser.add_argument(
        '--amp',
        choices=['none', 'float16', 'bfloat16'],
        help='mixed precision (AmpOptimWrapper); imagenet preset: float16',
    )
    parser.add_argument(
        '--channels-last',
        action='store_true',
        help='convert the models to channels_last (as ChannelsLastHook)',
    )
    parser.add_argument(
        '--generators',
        nargs='+',
        choices=list(GENERATORS),
        help='soft-target generators to measure (default: all five)',
    )
    parser.add_argument('--batch-size', type=int)
    parser.add_argument('--num-workers', type=int, help="dataloader workers (config's by default)")
    parser.add_argument('--rounds', type=int)
    parser.add_argument('--steps-per-round', type=int)
    parser.add_argument('--warmup-steps', type=int)
    parser.add_argument('--heldout-ratio', type=float, help='General held-out split (0.05)')
    parser.add_argument(
        '--threads',
        type=int,
        help='torch threads (small preset: 1, which '
        "stays reproducible on a CPU shared with other jobs; imagenet: torch's)",
    )
    parser.add_argument('--seed', type=int)
    parser.add_argument(
        '--ratio-target',
        nargs='+',
        metavar='[GENERATOR=]R',
        help='report whether KDCL / Σ(students alone) <= R: a bare R for every '
        'measured generator, GENERATOR=R for one (e.g. 1.03 Linear=1.05)',
    )
    parser.add_argument(
        '--general-fraction-target',
        type=float,
        metavar='F',
        help="report whether General's weight estimation takes <= F of an epoch (e.g. 0.02)",
    )
    parser.add_argument('--photos', help='a folder of JPEGs for the loader per view count')
    parser.add_argument(
        '--skimage-wheel',
        help="a scikit-image wheel (pip download scikit-image) whose photos the loader's "
        "timing uses besides matplotlib's one (without --photos)",
    )
    return parser.parse_args()


def main():
    args = parse_args()
    check_out_dir(args.out_dir, args.overwrite)  # fail before minutes of measuring
    default_target, ratio_targets = parse_ratio_targets(args.ratio_target)
    # Every option named after a BenchmarkSettings field overrides the preset (None keeps it).
    fields = {f.name for f in dataclasses.fields(BenchmarkSettings)} - {'preset', 'quick'}
    overrides = {k: v for k, v in vars(args).items() if k in fields}
    settings = preset_settings(args.preset, args.quick, **overrides)
    if settings.amp == 'none':
        settings.amp = None
    if default_target is not None:
        ratio_targets = {g: ratio_targets.get(g, default_target) for g in settings.generators}
    settings.ratio_targets = ratio_targets
    logger = MMLogger.get_instance('kdcl_benchmark', log_level='INFO')
    report = run_benchmark(settings, logger)
    paths = write_report(report, args.out_dir, args.overwrite)
    print(format_markdown(report))
    logger.info(f'Report written to {", ".join(paths.values())}')


if __name__ == '__main__':
    main()
