"""The benchmark report: targets met or not, markdown rendering, and the JSON + markdown files."""

import json
import os
import os.path as osp
from typing import Dict

from kdcl_mm.utils.overwrite_guard import refuse_overwrite

REPORT_FILES = ('benchmark.json', 'benchmark.md')


def check_targets(
    report: dict, ratio_targets: Dict[str, float], general_fraction_target=None
) -> dict:
    """Target -> met. Ratio and General targets only where the settings name them; the
    multi-view pipeline must never be the bottleneck."""
    targets = {
        f'ratio {g} <= {t}': report['ratios'][g] <= t
        for g, t in ratio_targets.items()
        if g in report['ratios']
    }
    if general_fraction_target is not None and 'general_estimate' in report:
        targets[f'General estimate <= {general_fraction_target:.0%} of an epoch'] = (
            report['general_estimate']['fraction'] <= general_fraction_target
        )
    targets['multi-view pipeline not the bottleneck'] = not report['pipeline']['bottleneck']
    return targets


def format_markdown(report: dict) -> str:
    s, m = report['settings'], report['machine']
    gpu = f', {m["gpu"]}' if m.get('gpu') else ''
    lines = [
        f'# KDCL training-step benchmark ({s["preset"]}{", quick" if s["quick"] else ""})',
        '',
        f'Machine: {m["cpu"]}, {m["cores"]} cores ({m["torch_threads"]} torch threads){gpu}; '
        f'torch {m["torch"]}, mmengine {m["mmengine"]}, mmpretrain {m.get("mmpretrain")}.',
        f'Load average (1/5/15 min) before: {report["load_average_before"]}, after: '
        f'{report["load_average_after"]}; 1-min load over the rounds '
        f'{min(report["load_average_1min_per_round"]):.2f}–'
        f'{max(report["load_average_1min_per_round"]):.2f}. Duration {report["duration_s"]} s.',
        f'Config `{display_path(s["config"])}`, '
        f'device {s["device"]}, batch {s["batch_size"]}, amp {s["amp"]}, channels_last '
        f'{s["channels_last"]}, {s["rounds"]} rounds x {s["steps_per_round"]} steps per arm '
        f'(round-robin, shuffled), {s["warmup_steps"]} warm-up steps excluded.',
        '',
        '## Training step (`model.train_step`)',
        '',
        '| arm | median ms | IQR ms | KDCL / Σ alone | per-round ratio (IQR) | peak memory MB '
        '| step increase MB |',
        '|---|---:|---:|---:|---|---:|---:|',
    ]
    mem = report['memory']['arms']
    for name, st in report['train_step'].items():
        short = name.split('/', 1)[1]
        ratio = paired = ''
        if name.startswith('kdcl/'):
            ratio = f'{report["ratios"][short]:.3f}'
            pr = report['paired_ratios'][short]
            paired = f'{pr["median"]:.3f} ({pr["q1"]:.3f}–{pr["q3"]:.3f})'
        inc = mem[name]['step_increase_mb']
        lines.append(
            f'| {name} | {st["median_ms"]:.1f} | {st["iqr_ms"]:.1f} | {ratio} | '
            f'{paired} | {mem[name]["peak_mb"]:.0f} | '
            f'{"" if inc is None else f"{inc:.0f}"} |'
        )
    solo = ' + '.join(f'solo/{n}' for n in report['students'])
    lines += [
        '',
        f'Ratio = median(KDCL) / ({solo} medians); per-round ratio: the same from each '
        f"round's medians, median and quartiles over rounds. Memory: "
        f'{report["memory"]["kind"]}.',
        '',
    ]
    p = report['pipeline']
    lines += [
        f'## Data pipeline ({p["num_workers"]} workers, batch {p["batch_size"]})',
        '',
        '| pipeline | median ms / batch | IQR ms | images / s |',
        '|---|---:|---:|---:|',
    ]
    for name in ('multi_view', 'single_view'):
        lines.append(
            f'| {name} | {p[name]["median_ms"]:.1f} | {p[name]["iqr_ms"]:.1f} | '
            f'{p[name]["images_per_s"]:.0f} |'
        )
    share = (
        ''
        if p['share_of_step'] is None
        else f' The pipeline runs in the training loop: {p["share_of_step"]:.1%} of a step.'
    )
    lines += [
        '',
        f'Multi-view / single-view: {p["multi_over_single"]:.2f}x. Pipeline per step '
        f'{p["pipeline_ms_per_step"]:.1f} ms vs fastest KDCL step '
        f'{p["fastest_kdcl_step_ms"]:.1f}'
        f' ms: {"BOTTLENECK" if p["bottleneck"] else "not the bottleneck"}.{share}',
        '',
    ]
    if 'general_estimate' in report:
        g = report['general_estimate']
        lines += [
            '## General: per-epoch weight estimation',
            '',
            f'`estimate_general_weights` (as `GeneralWeightsHook` runs it) over '
            f'{g["heldout_samples"]} held-out samples '
            f'({g["heldout_ratio"]:.0%}, batch {g["heldout_batch_size"]}): median '
            f'{g["estimate"]["median_ms"]:.1f} ms (IQR {g["estimate"]["iqr_ms"]:.1f}). Epoch = '
            f'{g["batches_per_epoch"]} batches over {g["train_samples"]} samples = '
            f'{g["epoch_ms"]:.0f} ms. Fraction: **{g["fraction"]:.2%}**.',
            '',
        ]
    lines += ['## Targets', '', '| target | met |', '|---|---|']
    lines += [f'| {k} | {"yes" if v else "NO"} |' for k, v in report['targets'].items()]
    if not s.get('ratio_targets') and s.get('general_fraction_target') is None:
        lines += [
            '',
            'No ratio or General target was set (`--ratio-target`, `--general-fraction-target`).',
        ]
    return '\n'.join(lines) + '\n'


def display_path(path: str) -> str:
    """``path`` relative to the working directory when it lies below it."""
    rel = osp.relpath(osp.realpath(path))
    return path if rel.startswith('..') else rel


def report_paths(out_dir: str) -> Dict[str, str]:
    return dict(zip(('json', 'markdown'), (osp.join(out_dir, f) for f in REPORT_FILES)))


def check_out_dir(out_dir: str, overwrite: bool = False) -> None:
    """Refuse a file as ``out_dir``, and an earlier report unless ``overwrite``."""
    if osp.exists(out_dir) and not osp.isdir(out_dir):
        raise NotADirectoryError(f'--out-dir {out_dir} is a file; choose a directory.')
    refuse_overwrite(report_paths(out_dir).values(), overwrite)


def write_report(report: dict, out_dir: str, overwrite: bool = False) -> Dict[str, str]:
    """Write ``benchmark.json`` and ``benchmark.md``; refuses to overwrite unless asked."""
    check_out_dir(out_dir, overwrite)
    os.makedirs(out_dir, exist_ok=True)
    paths = report_paths(out_dir)
    with open(paths['json'], 'w') as f:
        json.dump(report, f, indent=2)
    with open(paths['markdown'], 'w') as f:
        f.write(format_markdown(report))
    return paths
