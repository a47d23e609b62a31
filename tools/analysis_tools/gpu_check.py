"""A prepared GPU check: KDCL ResNet-50 + MobileNetV2 at 224x224, batch 64, synthetic data,
in fp32, fp16 AMP and bf16 AMP, each with and without channels_last (docs/benchmark.md).

    # on the GPU node (installs the travelling wheels first when OpenMMLab is missing)
    bash tools/analysis_tools/gpu_check.sh --out-dir work_dirs/gpu_check
    # anywhere, on CPU, in seconds: fp32 only, 32x32, batch 4, 2 timed steps (what CI runs)
    python -m tools.analysis_tools.gpu_check --dry --out-dir /tmp/gpu_check

For every mode it reports images/s, peak GPU memory, the KDCL / Σ(students alone) step-time
ratio and whether every loss stayed finite, and writes gpu_check.json + gpu_check.md.
It exits 1 when a mode failed or a loss was not finite, 2 without CUDA (unless --dry).
"""

import argparse
import gc
import json
import os
import os.path as osp
import sys
import time

import torch

#: mode -> AmpOptimWrapper dtype (None: fp32 with the config's OptimWrapper).
MODES = {'fp32': None, 'fp16': 'float16', 'bf16': 'bfloat16'}
REPORT_FILES = ('gpu_check.json', 'gpu_check.md')
DEFAULT_CONFIG = osp.join('configs', 'kdcl', 'r50_mbv2_imagenet.py')
GPU_SIZES = dict(batch_size=64, image_size=224, warmup_steps=10, rounds=5, steps_per_round=4)
# Batch 4, not 2: at 32x32 the last feature maps are 1x1, and BatchNorm over 2 values blew
# MobileNetV2 up to NaN within 3 steps (seen at batch 2, not at 4 or at 64x64).
DRY_SIZES = dict(batch_size=4, image_size=32, warmup_steps=1, rounds=2, steps_per_round=1)


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
        default='MinLogit',
        help="soft-target generator of the KDCL arm (the config's: MinLogit)",
    )
    parser.add_argument('--modes', nargs='+', choices=list(MODES), default=list(MODES))
    sizes = parser.add_argument_group('sizes (GPU default / --dry default)')
    sizes.add_argument('--batch-size', type=int, help='64 / 4')
    sizes.add_argument('--image-size', type=int, help='224 / 32')
    sizes.add_argument(
        '--warmup-steps',
        type=int,
        help='untimed steps per arm, for cudnn autotuning and the loss scale to settle: 10 / 1',
    )
    sizes.add_argument('--rounds', type=int, help='5 / 2')
    sizes.add_argument('--steps-per-round', type=int, help='4 / 1')
    parser.add_argument('--seed', type=int, default=0)
    args = parser.parse_args(argv)
    defaults = DRY_SIZES if args.dry else GPU_SIZES
    for name, value in defaults.items():
        if getattr(args, name) is None:
            setattr(args, name, value)
    return args


def _finite(log_vars: dict) -> bool:
    values = [
        v.detach().float().reshape(-1) for v in log_vars.values() if isinstance(v, torch.Tensor)
    ]
    return bool(torch.isfinite(torch.cat(values)).all()) if values else True


def run_mode(cfg, args, device: str, amp, channels_last: bool) -> dict:
    """Build KDCL and each student alone, warm up, time them round-robin, measure memory."""
    # Imported here, not at the top: --help, the no-CUDA message and the overwrite refusal
    # answer without importing OpenMMLab (which the node may still have to install).
    from tools.analysis_tools.benchmark.arms import build_arms, round_robin
    from tools.analysis_tools.benchmark.memory import PeakMemory
    from tools.analysis_tools.benchmark.presets import BenchmarkSettings
    from tools.analysis_tools.benchmark.synthetic_data import synthetic_batch
    from tools.analysis_tools.benchmark.timing import ms_summary, overhead_ratios, timed

    settings = BenchmarkSettings(
        config=args.config,
        device=device,
        amp=amp,
        channels_last=channels_last,
        generators=(args.generator,),
        seed=args.seed,
    )
    settings.check()
    arms, students = build_arms(cfg, settings)
    batch = synthetic_batch(
        args.batch_size, args.image_size, len(students), arms[0].model.num_classes, seed=args.seed
    )
    batch['inputs'] = [view.to(device) for view in batch['inputs']]
    finite = {a.name: True for a in arms}
    last = {}

    def step(arm):
        out = {}
        seconds = timed(lambda: out.update(arm.step(batch)), device)
        finite[arm.name] &= _finite(out)  # after the timer: the check syncs
        last[arm.name] = {k: float(v) for k, v in out.items() if isinstance(v, torch.Tensor)}
        return seconds

    for arm in arms:
        for _ in range(args.warmup_steps):
            step(arm)

    def unit(arm):
        return lambda: arm.times.extend(step(arm) for _ in range(args.steps_per_round))

    round_robin([(a.name, unit(a)) for a in arms], args.rounds, args.seed, progress=False)
    peak = PeakMemory(device)
    arm_reports = {}
    for arm in arms:
        stats = ms_summary(arm.times)
        memory = peak.measure(lambda arm=arm: step(arm))
        scaler = getattr(arm.optim_wrapper, 'loss_scaler', None)
        arm_reports[arm.name] = dict(
            stats,
            images_per_s=args.batch_size / (stats['median_ms'] / 1e3),
            **memory,
            losses_finite=finite[arm.name],
            last_losses=last[arm.name],
            loss_scale=None if scaler is None else float(scaler.get_scale()),
        )
    ratio = overhead_ratios(arm_reports, [args.generator], students)[args.generator]
    del arms
    return dict(
        status='ok',
        students=students,
        arms=arm_reports,
        ratio=ratio,
        students_alone_ms=sum(arm_reports[f'solo/{s}']['median_ms'] for s in students),
        losses_finite=all(finite.values()),
        memory_kind=peak.kind,
    )


def scale_lr(cfg, batch_size: int) -> float:
    """The config's lr scaled linearly to one device's batch (its ``auto_scale_lr`` rule, as
    ``--auto-scale-lr`` would): the recipe's lr for 8 GPUs makes small batches diverge to
    NaN, which would hide what this check looks for (precision trouble)."""
    base = (cfg.get('auto_scale_lr') or {}).get('base_batch_size')
    optimizer = cfg.optim_wrapper.optimizer
    if base:
        optimizer.lr = optimizer.lr * batch_size / base
    return optimizer.lr


def run_check(args) -> dict:
    from tools.analysis_tools.benchmark.presets import BenchmarkSettings
    from tools.analysis_tools.benchmark.run import load_kdcl_config, seed_everything
    from tools.common.machine import describe_machine

    device = 'cpu' if args.dry else 'cuda'
    # Bad --config/--generator stop here, not as an error in every mode.
    BenchmarkSettings(config=args.config, device=device, generators=(args.generator,)).check()
    started = time.time()
    cfg = load_kdcl_config(args.config)
    lr = scale_lr(cfg, args.batch_size)
    if device == 'cuda':
        torch.backends.cudnn.benchmark = True  # fixed input size
    runs = []
    for mode in args.modes:
        for channels_last in (False, True):
            run = dict(mode=mode, amp=MODES[mode], channels_last=channels_last)
            print(f'gpu_check: {mode}, channels_last={channels_last} ...', flush=True)
            if MODES[mode] and device == 'cpu':
                runs.append(dict(run, status='skipped', reason='AmpOptimWrapper needs CUDA'))
                continue
            seed_everything(args.seed)
            try:
                run.update(run_mode(cfg, args, device, MODES[mode], channels_last))
            except Exception as err:  # one failing mode must not hide the others' numbers
                runs.append(dict(run, status='error', reason=f'{type(err).__name__}: {err}'))
                continue
            finally:
                gc.collect()
                if device == 'cuda':
                    torch.cuda.empty_cache()
            runs.append(run)
    settings = {k: v for k, v in vars(args).items() if k not in ('out_dir', 'overwrite')}
    settings.update(
        device=device,
        generator=args.generator,
        lr=lr,
        cuda=torch.version.cuda,
        cudnn=torch.backends.cudnn.version(),
        cudnn_allow_tf32=torch.backends.cudnn.allow_tf32,
        matmul_allow_tf32=torch.backends.cuda.matmul.allow_tf32,
    )
    ok = all(r['status'] != 'error' and r.get('losses_finite', True) for r in runs)
    return dict(
        settings=settings,
        machine=describe_machine(),
        runs=runs,
        passed=ok,
        duration_s=round(time.time() - started, 1),
    )


def format_markdown(report: dict) -> str:
    s, m = report['settings'], report['machine']
    lines = [
        f'# KDCL GPU check{" (dry run on CPU)" if s["dry"] else ""}',
        '',
        f'Device: {m.get("gpu") or "CPU"} ({m["cpu"]}, {m["cores"]} cores); torch '
        f'{m["torch"]}, python {m["python"]}, mmengine {m["mmengine"]}, mmpretrain '
        f'{m.get("mmpretrain")}; CUDA {s["cuda"]}, cuDNN {s["cudnn"]}. TF32: cudnn '
        f'{s["cudnn_allow_tf32"]}, matmul '
        f'{s["matmul_allow_tf32"]}.',
        f'Config `{s["config"]}`, generator {s["generator"]}, batch {s["batch_size"]} '
        f'(lr {s["lr"]:g}), '
        f'{s["image_size"]}x{s["image_size"]} synthetic images, {s["warmup_steps"]} warm-up '
        f'+ {s["rounds"]} rounds x {s["steps_per_round"]} timed steps per arm. '
        f'Duration {report["duration_s"]} s.',
        '',
        '| mode | channels_last | KDCL ms | KDCL images/s | Σ alone ms | KDCL / Σ alone '
        '| KDCL peak MB | losses finite | status |',
        '|---|---|---:|---:|---:|---:|---:|---|---|',
    ]
    for r in report['runs']:
        if r['status'] != 'ok':
            lines.append(
                f'| {r["mode"]} | {r["channels_last"]} | | | | | | | {r["status"]}: {r["reason"]} |'
            )
            continue
        k = r['arms'][f'kdcl/{s["generator"]}']
        lines.append(
            f'| {r["mode"]} | {r["channels_last"]} | {k["median_ms"]:.1f} | '
            f'{k["images_per_s"]:.0f} | {r["students_alone_ms"]:.1f} | {r["ratio"]:.3f} '
            f'| {k["peak_mb"]:.0f} | {"yes" if r["losses_finite"] else "NO"} | ok |'
        )
    lines += ['', 'Per arm (median ms, IQR ms, images/s, peak MB, AMP loss scale):', '']
    for r in report['runs']:
        if r['status'] == 'ok':
            cells = [
                f'{name} {a["median_ms"]:.1f} ({a["iqr_ms"]:.1f}), '
                f'{a["images_per_s"]:.0f}/s, {a["peak_mb"]:.0f} MB'
                + ('' if a['loss_scale'] is None else f', scale {a["loss_scale"]:g}')
                for name, a in r['arms'].items()
            ]
            lines.append(f'- {r["mode"]}, channels_last={r["channels_last"]}: ' + '; '.join(cells))
    kind = next((r['memory_kind'] for r in report['runs'] if r['status'] == 'ok'), '-')
    lines += [
        '',
        f'Peak memory: {kind} during one step, over everything allocated (all three '
        "arms' weights and optimiser states).",
        f'Result: {"PASSED" if report["passed"] else "FAILED"}.',
    ]
    return '\n'.join(lines) + '\n'


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
    from kdcl_mm.utils.overwrite_guard import refuse_overwrite

    paths = [osp.join(args.out_dir, f) for f in REPORT_FILES]
    try:
        refuse_overwrite(paths, args.overwrite)  # before minutes of measuring
    except FileExistsError as err:
        print(f'gpu_check: {err}', file=sys.stderr)
        return 2
    import kdcl_mm  # noqa: F401  (registers modules)

    report = run_check(args)
    os.makedirs(args.out_dir, exist_ok=True)
    with open(paths[0], 'w') as f:
        json.dump(report, f, indent=2)
    with open(paths[1], 'w') as f:
        f.write(format_markdown(report))
    print(format_markdown(report))
    print(f'gpu_check: report written to {paths[0]} and {paths[1]}')
    return 0 if report['passed'] else 1


if __name__ == '__main__':
    sys.exit(main())
