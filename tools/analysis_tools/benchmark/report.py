"""The benchmark's reports, rendered as Markdown and written by the one report writer
(:mod:`tools.common.report`): the overhead report (``benchmark.json`` / ``.md``, with its
targets) and the GPU check's (``gpu_check.json`` / ``.md``). A new measurement adds a
column to :data:`ARM_COLUMNS` or :data:`MODE_COLUMNS`, or a section to a ``format_*``."""

import os.path as osp
from typing import Dict

from tools.common import report as writer
from tools.common.report import md_table, pyplot

REPORT_FILES = ('benchmark.json', 'benchmark.md')
GPU_CHECK_FILES = ('gpu_check.json', 'gpu_check.md')
ACTIVATION_FIGURE = 'activation_memory.png'


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


def _kdcl(report: dict, arm: str, fmt) -> str:
    """``fmt(generator)`` for a KDCL arm, empty for a student alone."""
    return fmt(arm.split('/', 1)[1]) if arm.startswith('kdcl/') else ''


def _paired(report: dict, arm: str) -> str:
    def cell(g):
        pr = report['paired_ratios'][g]
        return f'{pr["median"]:.3f} ({pr["q1"]:.3f}–{pr["q3"]:.3f})'

    return _kdcl(report, arm, cell)


def _mb(value) -> str:
    return '' if value is None else f'{value:.0f}'


#: The training-step table, one row per arm: (header, 'l'/'r' alignment, cell(report, arm)).
#: A new per-arm measurement is one more entry.
ARM_COLUMNS = (
    ('arm', 'l', lambda r, a: a),
    ('median ms', 'r', lambda r, a: f'{r["train_step"][a]["median_ms"]:.1f}'),
    ('IQR ms', 'r', lambda r, a: f'{r["train_step"][a]["iqr_ms"]:.1f}'),
    ('KDCL / Σ alone', 'r', lambda r, a: _kdcl(r, a, lambda g: f'{r["ratios"][g]:.3f}')),
    ('per-round ratio (IQR)', 'l', _paired),
    ('peak memory MB', 'r', lambda r, a: _mb(r['memory']['arms'][a]['peak_mb'])),
    ('step increase MB', 'r', lambda r, a: _mb(r['memory']['arms'][a]['step_increase_mb'])),
)


def columns_table(columns, report: dict, keys) -> list:
    """The Markdown table of ``columns`` (header, alignment, cell) over ``keys``."""
    header = [c[0] for c in columns]
    rows = [[cell(report, key) for _, _, cell in columns] for key in keys]
    return md_table(header, rows, ''.join(c[1] for c in columns))


def format_markdown(report: dict) -> str:
    """``benchmark.md`` of the overhead report."""
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
    ]
    lines += columns_table(ARM_COLUMNS, report, report['train_step'])
    solo = ' + '.join(f'solo/{n}' for n in report['students'])
    lines += [
        '',
        f'Ratio = median(KDCL) / ({solo} medians); per-round ratio: the same from each '
        f"round's medians, median and quartiles over rounds. Memory: "
        f'{report["memory"]["kind"]}.',
        '',
    ]
    lines += iteration_section(report)
    p = report['pipeline']
    lines += [f'## Data pipeline ({p["num_workers"]} workers, batch {p["batch_size"]})', '']
    rows = [
        [name, f'{p[name]["median_ms"]:.1f}', f'{p[name]["iqr_ms"]:.1f}']
        + [f'{p[name]["images_per_s"]:.0f}']
        for name in ('multi_view', 'single_view')
    ]
    lines += md_table(['pipeline', 'median ms / batch', 'IQR ms', 'images / s'], rows, 'lrrr')
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
    lines += lean_sections(report)
    targets = [[k, 'yes' if v else 'NO'] for k, v in report['targets'].items()]
    lines += ['## Targets', ''] + md_table(['target', 'met'], targets)
    if not s.get('ratio_targets') and s.get('general_fraction_target') is None:
        lines += [
            '',
            'No ratio or General target was set (`--ratio-target`, `--general-fraction-target`).',
        ]
    return '\n'.join(lines) + '\n'


def iteration_section(report: dict) -> list:
    """The Runner's iteration as shipped beside the bare ``train_step`` (``report['iteration']``,
    :mod:`.iteration`), per arm and as KDCL / Σ(students alone)."""
    if 'iteration' not in report:
        return []
    it = report['iteration']
    rows = [
        [
            arm,
            f'{a["train_step"]["median_ms"]:.1f}',
            f'{a["iteration"]["median_ms"]:.1f}',
            f'{a["iteration"]["iqr_ms"]:.1f}',
            f'{a["iteration_over_train_step"]:.3f}',
        ]
        for arm, a in it['arms'].items()
    ]
    header = ['arm', 'train_step ms', 'iteration ms', 'iteration IQR ms', 'iteration / step']
    r, pr = it['ratio'], it['paired_ratio']
    lines = [
        '## Training iteration as shipped (`train_loop.run_iter`)',
        '',
        "mmengine's Runner built from the recipe with its runtime (default hooks, the "
        "exact-resume hooks, the resumable loop's emergency bookkeeping; KDCL's custom hooks for "
        "KDCL, none for a student alone), timing its loop's `run_iter` (hooks + `train_step` + "
        'bookkeeping) on the same batches, in the same rounds as the bare `train_step` arms:',
        '',
    ]
    lines += md_table(header, rows, 'lrrrr')
    lines += [
        '',
        f'KDCL / Σ alone ({it["generator"]}): bare `train_step` **{r["train_step"]:.3f}** (per '
        f'round {_range(pr["train_step"])}), iteration as shipped **{r["iteration"]:.3f}** '
        f'(per round {_range(pr["iteration"])}).',
        '',
    ]
    return lines


def _range(stats: dict) -> str:
    return f'{stats["median"]:.3f}, {stats["q1"]:.3f}–{stats["q3"]:.3f}'


def _mib(value: float) -> str:
    return f'{value / 2**20:.1f}'


def lean_sections(report: dict) -> list:
    """The lean mode's step and activation bytes, the loader per view count, the peak RSS."""
    lines = []
    if 'lean' in report:
        le, a = report['lean'], report['activation_memory']
        pr = le['paired_ratio']
        lines += [
            '## Lean mode (`model.lean=True`)',
            '',
            f'`train_step` of kdcl/{le["generator"]} in lean mode against the default mode, '
            f'side by side in the same rounds: {le["lean"]["median_ms"]:.1f} ms against '
            f'{le["default"]["median_ms"]:.1f} ms, lean / default **{le["ratio"]:.3f}** '
            f'(per round {pr["median"]:.3f}, {pr["q1"]:.3f}–{pr["q3"]:.3f}).',
            '',
            f'Activation bytes of one forward + backward at batch {a["batch_size"]} (saved: '
            'tensors saved for backward, from saved-tensor hooks, which do not see lean '
            "mode's recomputation; allocated: every tensor alive at once, recomputation and "
            'temporaries included; deterministic):',
            '',
        ]
        keys = [(k, f) for k in ('saved', 'allocated') for f in ('', '_x_largest', '_x_sum')]
        cells = [
            [_mib(m[k]) if not f else f'{m[k + f]:.2f}' for k, f in keys]
            for m in a['modes'].values()
        ]
        rows = [[mode, *row] for mode, row in zip(a['modes'], cells)]
        header = ['mode', 'saved MiB', '× largest', '× Σ', 'allocated MiB', '× largest', '× Σ']
        lines += md_table(header, rows, 'lrrrrrr')
        sizes = list(a['estimated_max_batch'])
        rows = [[m] + [a['estimated_max_batch'][g][m] for g in sizes] for m in ('default', 'lean')]
        lines += [
            '',
            'Largest batch per GPU, ESTIMATED (not run), fp32: (memory − margin − model '
            f'state) / (allocated bytes / {a["batch_size"]}), margin {a["margin"]}, model '
            f'state (parameters, gradients, optimiser state) {_mib(a["state_bytes"])} MiB:',
            '',
        ]
        lines += md_table(['mode', *sizes], rows, 'l' + 'r' * len(sizes)) + ['']
    if 'loader' in report:
        lo = report['loader']
        lines += [f'## Loader per view count ({len(lo["photos"])} photos as 500x375 JPEGs)', '']
        keys = ('ms_per_image', 'x_solo', 'device_ms_per_image', 'with_device_x_solo')
        cells = [[f'{p[k]:.2f}' if k in p else '' for k in keys] for p in lo['pipelines'].values()]
        rows = [[name, *row] for name, row in zip(lo['pipelines'], cells)]
        header = ['pipeline', 'ms / image', '× 1 view', 'device part ms / image']
        header.append('+ device × 1 view')
        lines += md_table(header, rows, 'lrrrr') + ['']
    if 'peak_rss_mb' in report:
        lines += [f'Peak RSS of the process: {report["peak_rss_mb"]:.0f} MB.', '']
    return lines


def activation_figure(report: dict):
    """Bars of the saved and allocated MiB per mode (``activation_memory.png``)."""
    plt = pyplot()
    a = report['activation_memory']
    modes = list(a['modes'])
    fig, ax = plt.subplots(figsize=(7, 3.5), dpi=120)
    for i, key in enumerate(('saved', 'allocated')):
        values = [a['modes'][m][key] / 2**20 for m in modes]
        ax.bar([x + 0.4 * i for x in range(len(modes))], values, 0.4, label=key)
    ax.set_xticks([x + 0.2 for x in range(len(modes))], modes)
    ax.set_ylabel('MiB')
    ax.set_title(
        f'Activation memory of one step, batch {a["batch_size"]} '
        f'({osp.basename(report["settings"]["config"])})'
    )
    ax.legend()
    fig.tight_layout()
    return fig


def _ok(fmt):
    """A GPU-check cell: ``fmt(run, its KDCL arm)`` for a mode that ran, empty otherwise."""

    def cell(report, run):
        if run['status'] != 'ok':
            return ''
        return fmt(run, run['arms'][f'kdcl/{report["settings"]["generator"]}'])

    return cell


def _status(report: dict, run: dict) -> str:
    return 'ok' if run['status'] == 'ok' else f'{run["status"]}: {run["reason"]}'


#: The GPU check's table, one row per mode: (header, alignment, cell(report, run)).
MODE_COLUMNS = (
    ('mode', 'l', lambda r, run: run['mode']),
    ('channels_last', 'l', lambda r, run: run['channels_last']),
    ('KDCL ms', 'r', _ok(lambda run, k: f'{k["median_ms"]:.1f}')),
    ('KDCL images/s', 'r', _ok(lambda run, k: f'{k["images_per_s"]:.0f}')),
    ('Σ alone ms', 'r', _ok(lambda run, k: f'{run["students_alone_ms"]:.1f}')),
    ('KDCL / Σ alone', 'r', _ok(lambda run, k: f'{run["ratio"]:.3f}')),
    ('KDCL peak MB', 'r', _ok(lambda run, k: f'{k["peak_mb"]:.0f}')),
    ('losses finite', 'l', _ok(lambda run, k: 'yes' if run['losses_finite'] else 'NO')),
    ('status', 'l', _status),
)


def format_gpu_check(report: dict) -> str:
    """``gpu_check.md`` of the GPU check's report."""
    s, m = report['settings'], report['machine']
    lines = [
        f'# KDCL GPU check{" (dry run on CPU)" if s["dry"] else ""}',
        '',
        f'Device: {m.get("gpu") or "CPU"} ({m["cpu"]}, {m["cores"]} cores); torch '
        f'{m["torch"]}, python {m["python"]}, mmengine {m["mmengine"]}, mmpretrain '
        f'{m.get("mmpretrain")}; CUDA {s["cuda"]}, cuDNN {s["cudnn"]}. TF32: cudnn '
        f'{s["cudnn_allow_tf32"]}, matmul {s["matmul_allow_tf32"]}.',
        f'Config `{s["config"]}`, generator {s["generator"]}, batch {s["batch_size"]} '
        f'(lr {s["lr"]:g}), {s["image_size"]}x{s["image_size"]} synthetic images, '
        f'{s["warmup_steps"]} warm-up + {s["rounds"]} rounds x {s["steps_per_round"]} timed '
        f'steps per arm. Duration {report["duration_s"]} s.',
        '',
    ]
    lines += columns_table(MODE_COLUMNS, report, report['runs'])
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
    shipped = [r for r in report['runs'] if r['status'] == 'ok' and r.get('iteration')]
    if shipped:
        lines += [
            '',
            "Training iteration as shipped (the Runner's `train_loop.run_iter` with the recipe's "
            'runtime) against the bare `train_step`, same rounds: median ms per arm (train_step → '
            'iteration, ratio) and KDCL / Σ alone (train_step → iteration):',
            '',
        ]
        for r in shipped:
            cells = [
                f'{arm} {a["train_step"]["median_ms"]:.1f} → {a["iteration"]["median_ms"]:.1f} '
                f'(×{a["iteration_over_train_step"]:.3f})'
                for arm, a in r['iteration']['arms'].items()
            ]
            ratio = r['iteration']['ratio']
            cells.append(f'KDCL / Σ alone {ratio["train_step"]:.3f} → {ratio["iteration"]:.3f}')
            lines.append(f'- {r["mode"]}, channels_last={r["channels_last"]}: ' + '; '.join(cells))
    lean = [r for r in report['runs'] if r['status'] == 'ok' and r.get('lean')]
    if lean:
        lines += ['', f'Lean mode (`model.lean=True`, {report["settings"]["generator"]}):', '']
        rows = [
            [r['mode'], r['channels_last'], f'{r["lean"]["median_ms"]:.1f}']
            + [f'{r["lean"]["time_ratio"]:.3f}', f'{r["lean"]["peak_mb"]:.0f}']
            + [f'{r["lean"]["memory_ratio"]:.3f}']
            for r in lean
        ]
        header = ['mode', 'channels_last', 'lean ms', 'lean / default', 'lean peak MB']
        lines += md_table(header + ['peak lean / default'], rows, 'llrrrr')
    lines += gpu_arm_sections(report)
    kind = next((r['memory_kind'] for r in report['runs'] if r['status'] == 'ok'), '-')
    lines += [
        '',
        f'Peak memory: {kind} during one step, over everything allocated (all three '
        "arms' weights and optimiser states).",
        f'Result: {"PASSED" if report["passed"] else "FAILED"}.',
    ]
    return '\n'.join(lines) + '\n'


def _arm_row(label: str, run: dict, generator: str) -> list:
    head = [label, run['mode'], str(run.get('batch_size', ''))]
    if run['status'] != 'ok':
        return head + [''] * 5 + [_status(None, run)]
    k, lean = run['arms'][f'kdcl/{generator}'], run.get('lean') or {}
    lean_ips = f'{lean["images_per_s"]:.0f}' if lean else ''
    return head + [
        f'{k["median_ms"]:.1f}',
        f'{k["images_per_s"]:.0f}',
        lean_ips,
        f'{run["ratio"]:.3f}',
        f'{k["peak_mb"]:.0f}',
        'ok' if run['losses_finite'] else 'NO: a loss was not finite',
    ]


def gpu_arm_sections(report: dict) -> list:
    """The GPU check's batch sweep, fused SGD, compile and equality arms (:mod:`.gpu_arms`),
    where they ran."""
    g = report['settings']['generator']
    rows = []
    for r in report.get('batch_sweep', ()):
        rows.append(_arm_row('batch sweep, channels_last', r, g))
    for r in report.get('fused_sgd', ()):
        fused = r.get('optimizer_options', {}).get('fused')
        rows.append(_arm_row('SGD fused=True' if fused else 'SGD foreach (default)', r, g))
    for r in report.get('compile', ()):
        rows.append(_arm_row('torch.compile' if r.get('compile') else 'not compiled', r, g))
    lines = []
    if rows:
        header = ['arm', 'mode', 'batch', 'KDCL ms', 'KDCL images/s', 'lean images/s']
        header += ['KDCL / Σ alone', 'KDCL peak MB', 'status']
        lines += ['', 'Batch sweep, optimiser and compile arms:', '']
        lines += md_table(header, rows, 'lllrrrrrl')
    eq = report.get('equality')
    if eq:
        lines += ['', 'Equality arms:', '']
        lean = eq['lean_gradients']
        if lean['status'] == 'ok':
            lines.append(
                f'- lean vs default after {lean["steps"]} steps, deterministic algorithms: '
                f'gradients {"equal" if lean["gradients"]["equal"] else "DIFFER"} (max |Δ| '
                f'{lean["gradients"]["max_abs_diff"]:g}), weights and buffers '
                f'{"equal" if lean["state"]["equal"] else "DIFFER"} (max |Δ| '
                f'{lean["state"]["max_abs_diff"]:g})'
            )
        else:
            lines.append(f'- lean vs default: {_status(None, lean)}')
        vd = eq['view_distortion']
        if vd['status'] == 'ok':
            lines.append(
                f'- apply_view_distortion on {vd["device"]} vs CPU: '
                f'{"equal" if vd["equal"] else "DIFFER"} (max |Δ| {vd["max_abs_diff"]:g})'
            )
        else:
            lines.append(f'- apply_view_distortion: {_status(None, vd)}')
    return lines


def display_path(path: str) -> str:
    """``path`` relative to the working directory when it lies below it."""
    rel = osp.relpath(osp.realpath(path))
    return path if rel.startswith('..') else rel


def check_out_dir(
    out_dir: str, overwrite: bool = False, names=REPORT_FILES + (ACTIVATION_FIGURE,)
) -> None:
    """Refuse a file as ``out_dir``, and an earlier report unless ``overwrite`` (before
    minutes of measuring)."""
    writer.check_out_dir(out_dir, names, overwrite)


def write_report(report: dict, out_dir: str, overwrite: bool = False) -> Dict[str, str]:
    """Write ``benchmark.json``, ``benchmark.md`` and (with the lean mode measured)
    ``activation_memory.png``; refuses to overwrite unless asked."""
    figures = (
        {ACTIVATION_FIGURE: activation_figure(report)} if 'activation_memory' in report else {}
    )
    return writer.write_report(
        out_dir, REPORT_FILES, report, format_markdown(report), figures, overwrite
    )


def write_gpu_check(report: dict, out_dir: str, overwrite: bool = False) -> Dict[str, str]:
    """Write ``gpu_check.json`` and ``gpu_check.md``; refuses to overwrite unless asked."""
    markdown = format_gpu_check(report)
    return writer.write_report(out_dir, GPU_CHECK_FILES, report, markdown, None, overwrite)
