"""A prepared GPU check: KDCL ResNet-50 + MobileNetV2 at 224x224, batch 64, synthetic data,
in fp32, fp16 AMP and bf16 AMP, each with and without channels_last (docs/benchmark.md).

    # on the GPU node (installs the travelling wheels first when OpenMMLab is missing)
    bash tools/analysis_tools/gpu_check.sh --out-dir work_dirs/gpu_check
    # anywhere, on CPU, in seconds: fp32 only, 32x32, batch 4, 2 timed steps (what CI runs)
    python -m tools.analysis_tools.gpu_check --dry --out-dir /tmp/gpu_check

The benchmark's ``gpu_check`` mode (tools/analysis_tools/benchmark/: its ``gpu_check`` preset,
measurements and report). For every mode it reports images/s, peak GPU memory, the
KDCL / Σ(students alone) step-time ratio and whether every loss stayed finite, and writes
gpu_check.json + gpu_check.md. It exits 1 when a mode failed or a loss was not finite, 2
without CUDA (unless --dry) or with an earlier report.
"""

import argparse
import os
import os.path as osp
import sys

import torch

from tools.analysis_tools.benchmark.gpu_arms import ARMS, DRY_ARMS
from tools.analysis_tools.benchmark.settings import DRY, PRECISIONS, PRESETS

PRESET = PRESETS['gpu_check']
DEFAULT_CONFIG = osp.join('configs', 'kdcl', 'r50_mbv2_imagenet.py')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out-dir', required=True, help='where gpu_check.json/.md go')
    parser.add_argument('--overwrite', action='store_true', help='replace an earlier report')
    parser.add_argument(
        '--dry',
        action='store_true',
        help='CPU, fp32 only, 32x32, batch 4, 1 warm-up + 2 timed steps: checks '
        'the code path in seconds (AMP modes are listed as skipped)',
    )
    parser.add_argument(
        '--config',
        default=DEFAULT_CONFIG,
        help='a KDCL config whose students and optimiser are used',
    )
    parser.add_argument(
        '--generator',
        default=PRESET['generators'][0],
        help="soft-target generator of the KDCL arm (the config's: MinLogit)",
    )
    parser.add_argument('--modes', nargs='+', choices=list(PRECISIONS), default=list(PRECISIONS))
    parser.add_argument(
        '--arms',
        nargs='+',
        choices=list(ARMS),
        help=f'what to run (default: {" ".join(ARMS)}; --dry: {" ".join(DRY_ARMS)}): modes = '
        'the precision modes at the batch size; batch = the batch sweep (bf16, fp16, '
        'channels_last, lean included; OOM reported per run); fused = SGD fused=True vs '
        'foreach; compile = torch.compile vs not; equality = lean vs default gradients '
        '(deterministic) and view distortion on the device vs the CPU',
    )
    parser.add_argument(
        '--batch-sizes',
        nargs='+',
        type=int,
        help=f'the batch sweep (default {PRESET["batch_sizes"]} / --dry {DRY["batch_sizes"]})',
    )
    sizes = parser.add_argument_group('sizes (GPU default / --dry default)')
    for name, what in (
        ('batch_size', ''),
        ('image_size', ''),
        (
            'warmup_steps',
            'untimed steps per arm, for cudnn autotuning and the loss scale to settle: ',
        ),
        ('rounds', ''),
        ('steps_per_round', ''),
    ):
        flag = '--' + name.replace('_', '-')
        sizes.add_argument(flag, type=int, help=f'{what}{PRESET[name]} / {DRY[name]}')
    parser.add_argument('--seed', type=int, default=0)
    return parser.parse_args(argv)


def main(argv=None) -> int:
    args = parse_args(argv)
    if not args.dry and not torch.cuda.is_available():
        print(
            'gpu_check: no CUDA device is visible, and this check measures the GPU. Run it on '
            'the GPU node (bash tools/analysis_tools/gpu_check.sh --out-dir DIR), or pass --dry '
            'for the CPU smoke run (fp32, tiny sizes).',
            file=sys.stderr,
        )
        return 2
    # The equality arm runs under torch.use_deterministic_algorithms(True), which cuBLAS
    # allows only with a fixed workspace, set before CUDA starts.
    os.environ.setdefault('CUBLAS_WORKSPACE_CONFIG', ':4096:8')
    # kdcl_mm (and OpenMMLab, which gpu_check.sh may just have installed) from here on.
    from tools.analysis_tools.benchmark.report import (
        GPU_CHECK_FILES,
        check_out_dir,
        format_gpu_check,
        write_gpu_check,
    )
    from tools.analysis_tools.benchmark.run import run_gpu_check
    from tools.analysis_tools.benchmark.settings import preset_settings

    try:
        check_out_dir(args.out_dir, args.overwrite, GPU_CHECK_FILES)  # before measuring
    except FileExistsError as err:
        print(f'gpu_check: {err}', file=sys.stderr)
        return 2
    settings = preset_settings(
        'gpu_check',
        args.dry,
        config=args.config,
        generators=(args.generator,),
        precisions=tuple(args.modes),
        batch_size=args.batch_size,
        image_size=args.image_size,
        warmup_steps=args.warmup_steps,
        rounds=args.rounds,
        steps_per_round=args.steps_per_round,
        seed=args.seed,
        arms=tuple(args.arms or (DRY_ARMS if args.dry else ARMS)),
        batch_sizes=tuple(args.batch_sizes) if args.batch_sizes else None,
    )
    report = run_gpu_check(settings)
    paths = write_gpu_check(report, args.out_dir, args.overwrite)
    print(format_gpu_check(report))
    print(f'gpu_check: report written to {paths["json"]} and {paths["markdown"]}')
    return 0 if report['passed'] else 1


if __name__ == '__main__':
    sys.exit(main())
