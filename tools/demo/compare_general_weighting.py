"""Compare GeneralSoftTarget's weightings (closed form, simplex, shrinkage) on the demo's val split.

Trains the MNIST General recipe once per (weighting, seed), reads the last val top-1 of the
ensemble and of each student from every run's ``vis_data/scalars.json``, and writes into the
work dir a markdown table (``general_weighting.md``) and a plot of the weights per epoch for the
closed form and the chosen weighting, first seed (``general_weighting.png``). The choice: the
highest mean val ensemble top-1; the test split is never used. Runs that finished are reused.

    python -m tools.demo.compare_general_weighting --work-dir work_dirs/general_weighting \
        --seeds 0 1 2 --jobs 2
"""

import argparse
import os
import os.path as osp
from typing import Dict, List

from tools.common.machine import describe_machine
from tools.common.scalars import find_scalars, load_scalars, metric_curve
from tools.common.stats import paired_interval, summarize
from tools.demo.runs import Launcher, finished, train_command

CONFIG = 'configs/kdcl/resnet18-w16_mbv2-w0.5_mnist_general.py'
WEIGHTINGS = ('closed_form', 'simplex', 'shrinkage')


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--work-dir', default='work_dirs/general_weighting')
    parser.add_argument('--config', default=CONFIG)
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1])
    parser.add_argument('--weightings', nargs='+', default=list(WEIGHTINGS), choices=WEIGHTINGS)
    parser.add_argument('--jobs', type=int, default=2, help='trainings at a time')
    parser.add_argument('--threads', type=int, default=1, help='torch threads per training')
    parser.add_argument(
        '--report-only', action='store_true', help='only read finished runs, train nothing'
    )
    return parser.parse_args(argv)


def run_dir(work_dir: str, weighting: str, seed: int) -> str:
    return osp.join(work_dir, f'{weighting}_seed{seed}')


def read_run(path: str) -> dict:
    """Last val top-1 per model and the General weights per epoch of one finished run."""
    scalars = find_scalars(path)
    if scalars is None:
        raise SystemExit(f'compare_general_weighting: no vis_data/scalars.json in {path}')
    records = load_scalars(scalars)
    top1 = {}
    weights: Dict[str, List[float]] = {}
    for key in sorted({k for r in records for k in r}):
        if key.endswith('/top1'):
            top1[key[: -len('/top1')]] = metric_curve(records, key)[1][-1]
        elif key.startswith('general_weight/'):
            weights[key[len('general_weight/') :]] = metric_curve(records, key, 'epoch')
    intensity = metric_curve(records, 'general_shrinkage', 'epoch')
    return dict(top1=top1, weights=weights, intensity=intensity)


def weight_swing(weights: Dict[str, list]) -> float:
    """Mean |change| of a student's weight from one epoch to the next, over students."""
    changes = [abs(b - a) for curve in weights.values() for a, b in zip(curve[1], curve[1][1:])]
    return sum(changes) / len(changes) if changes else 0.0


def table(results: Dict[str, Dict[int, dict]]) -> List[str]:
    models = ['ensemble'] + sorted(
        {m for runs in results.values() for r in runs.values() for m in r['top1']} - {'ensemble'}
    )
    head = (
        ['weighting']
        + [f'val {m} top-1' for m in models]
        + ['weights: min / max', 'mean change of a weight between epochs']
    )
    lines = ['| ' + ' | '.join(head) + ' |', '|' + '---|' * len(head)]
    for weighting, runs in results.items():
        cells = [f'`{weighting}`']
        for m in models:
            values = [runs[s]['top1'][m] for s in sorted(runs)]
            stats = summarize(values)
            per_seed = ', '.join(f'{v:.1f}' for v in values)
            spread = f' ± {stats["std"]:.1f}' if stats['std'] is not None else ''
            cells.append(f'{stats["mean"]:.1f}{spread} ({per_seed})')
        all_w = [w for r in runs.values() for c in r['weights'].values() for w in c[1]]
        cells.append(f'{min(all_w):+.2f} / {max(all_w):+.2f}')
        swing = summarize([weight_swing(r['weights']) for r in runs.values()])['mean']
        cells.append(f'{swing:.3f}')
        lines.append('| ' + ' | '.join(cells) + ' |')
    return lines


def paired_lines(results: Dict[str, Dict[int, dict]]) -> List[str]:
    """Paired (same seed) differences of val ensemble top-1 against the closed form."""
    if 'closed_form' not in results:
        return []
    base = results['closed_form']
    lines = []
    for weighting, runs in results.items():
        seeds = sorted(set(runs) & set(base))
        if weighting == 'closed_form' or not seeds:
            continue
        diff = [runs[s]['top1']['ensemble'] - base[s]['top1']['ensemble'] for s in seeds]
        ci = paired_interval(diff)
        interval = (
            f', 95 % t-interval [{ci["low"]:+.1f}, {ci["high"]:+.1f}]'
            if ci['low'] is not None
            else ''
        )
        higher = sum(d > 0 for d in diff)
        lines.append(
            f'- `{weighting}` − `closed_form`, val ensemble top-1: mean '
            f'{ci["mean"]:+.1f} over {len(seeds)} seeds{interval}; higher in '
            f'{higher} of {len(seeds)} seeds.'
        )
    return lines


def choose(results: Dict[str, Dict[int, dict]]) -> str:
    """Highest mean val ensemble top-1; ties go to the steadier weights."""

    def key(weighting):
        runs = results[weighting].values()
        return (
            summarize([r['top1']['ensemble'] for r in runs])['mean'],
            -summarize([weight_swing(r['weights']) for r in runs])['mean'],
        )

    return max(results, key=key)


def plot(results: Dict[str, Dict[int, dict]], chosen: str, path: str) -> None:
    """Weights per epoch of the first seed: the closed form (the paper's) beside the chosen."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    shown = ['closed_form'] + ([chosen] if chosen != 'closed_form' else [])
    fig, axes = plt.subplots(
        1, len(shown), figsize=(4.5 * len(shown), 3.2), sharey=True, squeeze=False
    )
    for ax, weighting in zip(axes[0], shown):
        seed = min(results[weighting])
        for name, (epochs, values) in sorted(results[weighting][seed]['weights'].items()):
            ax.plot(epochs, values, marker='.', label=name)
        ax.axhline(0, color='grey', linewidth=0.5)
        role = 'chosen' if weighting == chosen else 'paper'
        ax.set_title(f'{weighting} ({role}), seed {seed}')
        ax.set_xlabel('training epoch')
    axes[0][0].set_ylabel('General weight')
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=80)
    plt.close(fig)


def main(argv=None):
    args = parse_args(argv)
    runs = [(w, s) for w in args.weightings for s in args.seeds]
    todo = [(w, s) for w, s in runs if not finished(run_dir(args.work_dir, w, s))]
    if todo and not args.report_only:
        launcher = Launcher(jobs=args.jobs, threads=args.threads, name='compare_general_weighting')

        def train(item):
            weighting, seed = item
            path = run_dir(args.work_dir, weighting, seed)
            cmd = train_command(
                args.config,
                path,
                [f'randomness.seed={seed}', f'model.soft_target.weighting={weighting}'],
            )
            print(f'training {weighting}, seed {seed} -> {path}', flush=True)
            return launcher.run(cmd, osp.join(args.work_dir, 'logs', f'{weighting}_seed{seed}.log'))

        launcher.in_parallel(train, todo)
    results: Dict[str, Dict[int, dict]] = {}
    for weighting, seed in runs:
        results.setdefault(weighting, {})[seed] = read_run(run_dir(args.work_dir, weighting, seed))
    chosen = choose(results)
    os.makedirs(args.work_dir, exist_ok=True)
    png = osp.join(args.work_dir, 'general_weighting.png')
    plot(results, chosen, png)
    machine = describe_machine(torch_threads=args.threads)
    lines = [
        f'Config: `{args.config}`, seeds {args.seeds}, last val epoch (val split, never '
        'test); mean ± std over seeds (per-seed values in brackets).',
        '',
        *table(results),
        '',
        *paired_lines(results),
        '',
        f'Chosen: `{chosen}` (highest mean val ensemble top-1; ties: steadier weights).',
        f'Machine: {machine["cpu"]}, {args.threads} torch thread(s) per run, '
        f'torch {machine["torch"]}.',
        f'Plot: {png}',
    ]
    if 'shrinkage' in results:
        values = [v for r in results['shrinkage'].values() for v in r['intensity'][1]]
        if values:
            lines.append(
                f'Shrinkage intensity over epochs and seeds: {min(values):.2f} to '
                f'{max(values):.2f}.'
            )
    with open(osp.join(args.work_dir, 'general_weighting.md'), 'w') as f:
        f.write('\n'.join(lines) + '\n')
    print('\n'.join(lines))


if __name__ == '__main__':
    main()
