"""The figures of the demo report and of the recipe search (matplotlib, Agg backend: no display
needed). :func:`draw` makes them from a report's figure data;
:func:`tools.common.report.write_report` saves them as PNG."""

from typing import Dict, List, Sequence, Tuple

import numpy as np
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from tools.common.report import pyplot

from .settings import DOWNSTREAM_DIFFERENCES, GENERAL_WEIGHTING, GENERAL_WEIGHTS, figure_file

plt = pyplot()

Curve = Tuple[Sequence[int], Sequence[float]]
# One colour per arm, the same in every figure.
ARM_COLOURS = {'solo': 'tab:grey', 'KDCL': 'tab:red'}
GENERATOR_COLOURS = ['tab:blue', 'tab:green', 'tab:purple', 'tab:orange', 'tab:brown']


def _mean_band(curves: List[Curve]):
    """Epochs common to all seeds, with the mean, min and max across seeds."""
    common = sorted(set.intersection(*(set(steps) for steps, _ in curves)))
    table = np.array([[dict(zip(steps, values))[e] for e in common] for steps, values in curves])
    return np.array(common), table.mean(0), table.min(0), table.max(0)


def _draw(ax, curves: List[Curve], label: str, colour: str, band: bool = True, **style):
    if not curves:
        return
    epochs, mean, low, high = _mean_band(curves)
    seeds = f'{len(curves)} seed' + ('s' if len(curves) > 1 else '')
    ax.plot(epochs, mean, color=colour, label=f'{label} ({seeds})', **style)
    if band and len(curves) > 1:
        ax.fill_between(epochs, low, high, color=colour, alpha=0.2, linewidth=0)


def plot_val_curves(
    student: str,
    solo: List[Curve],
    kdcl: List[Curve],
    kdcl_label: str,
    ablation: Dict[str, List[Curve]] = None,
):
    """Validation top-1 per epoch of one student: solo vs KDCL (mean over seeds, min-max band),
    plus the ablation's other generators (means, dashed). Left: all epochs; right: the last
    half, zoomed in, where the arms differ."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    for ax in axes:
        _draw(ax, solo, 'solo', ARM_COLOURS['solo'], linewidth=2)
        _draw(ax, kdcl, kdcl_label, ARM_COLOURS['KDCL'], linewidth=2)
        for colour, (name, curves) in zip(GENERATOR_COLOURS, sorted((ablation or {}).items())):
            _draw(ax, curves, f'KDCL {name}', colour, band=False, linewidth=1, linestyle='--')
        ax.set_xlabel('epoch')
        ax.set_ylabel('val top-1 (%)')
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.grid(alpha=0.3)
    last = max(max(steps) for steps, _ in solo + kdcl)
    zoom_from = max(1, last // 2)
    tail = [v for steps, values in solo + kdcl for s, v in zip(steps, values) if s >= zoom_from]
    axes[1].set_xlim(zoom_from, last)
    if tail:
        axes[1].set_ylim(min(tail) - 0.5, min(100.0, max(tail) + 0.5))
    axes[0].set_title(f'{student}: validation accuracy')
    axes[1].set_title(f'{student}: epochs {zoom_from}-{last} (zoom)')
    axes[1].legend(loc='lower right', fontsize=8)
    fig.tight_layout()
    return fig


def plot_general_weights(panels: Dict[str, Dict[str, Curve]]):
    """GeneralSoftTarget's ensemble weight of each student per epoch: one panel per title (a
    run, e.g. one weighting of a seed), beside the uniform weight and 0."""
    fig, axes = plt.subplots(
        1, len(panels), figsize=(6 * len(panels), 3.6), sharey=True, squeeze=False
    )
    for ax, (title, weights) in zip(axes[0], panels.items()):
        for colour, (student, (steps, values)) in zip(GENERATOR_COLOURS, sorted(weights.items())):
            ax.plot(steps, values, color=colour, label=student, linewidth=2, marker='.')
        uniform = 1 / max(1, len(weights))
        ax.axhline(uniform, color='black', linewidth=0.8, linestyle=':', label='uniform')
        ax.axhline(0, color='grey', linewidth=0.5)
        ax.set_xlabel('epoch')
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(title)
        ax.grid(alpha=0.3)
    axes[0][0].set_ylabel('ensemble weight')
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_paired_differences(panels: Dict[str, dict]):
    """KDCL − solo paired by seed: one panel per title (a downstream task), in it per backbone
    a point per seed (``s<seed>`` beside it) and, right of them, their mean with its paired
    95 % interval (none for one seed); the line at 0 is no difference. Each panel is
    ``dict(metric=..., backbones={name: dict(per_seed={seed: d}, mean=, low=, high=)})``."""
    fig, axes = plt.subplots(1, len(panels), figsize=(5.5 * len(panels), 4.2), squeeze=False)
    for ax, (title, panel) in zip(axes[0], panels.items()):
        names = list(panel['backbones'])
        for x, (colour, name) in enumerate(zip(GENERATOR_COLOURS, names)):
            series = panel['backbones'][name]
            seeds, deltas = list(series['per_seed']), list(series['per_seed'].values())
            # Spread side by side, so that seeds with equal differences stay visible.
            xs = x - 0.15 + np.linspace(-0.1, 0.1, len(seeds)) * (len(seeds) > 1)
            ax.scatter(xs, deltas, color=colour, s=24, zorder=3)
            for xi, delta, seed in zip(xs, deltas, seeds):
                ax.annotate(
                    f's{seed}', (xi, delta), xytext=(3, 2), textcoords='offset points', fontsize=7
                )
            mean, low, high = series['mean'], series['low'], series['high']
            yerr = None if low is None else [[mean - low], [high - mean]]
            ax.errorbar([x + 0.15], [mean], yerr=yerr, fmt='D', color='black', capsize=4)
        ax.axhline(0, color='black', linewidth=0.8)
        ax.set_xticks(range(len(names)), names)
        ax.set_xlim(-0.6, len(names) - 0.4)
        ax.set_ylabel(f'KDCL − solo ({panel["metric"]})')
        ax.set_title(f'{title}: KDCL − solo backbone, paired by seed')
        ax.grid(alpha=0.3, axis='y')
    handles = [
        Line2D([], [], marker='o', color='grey', linestyle='', label='one seed (s<seed>)'),
        Line2D([], [], marker='D', color='black', label='mean, 95 % interval'),
    ]
    axes[0][0].legend(handles=handles, fontsize=8)
    fig.tight_layout()
    return fig


def draw(figure_data: Dict[str, dict]) -> Dict[str, object]:
    """File name -> figure, for each figure key's plot arguments: General's weights (the demo's
    and the search's), the downstream per-seed differences, otherwise a student's val curves."""
    plot = {
        GENERAL_WEIGHTS: plot_general_weights,
        GENERAL_WEIGHTING: plot_general_weights,
        DOWNSTREAM_DIFFERENCES: plot_paired_differences,
    }
    return {
        figure_file(key): plot.get(key, plot_val_curves)(**data)
        for key, data in figure_data.items()
    }
