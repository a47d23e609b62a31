"""The figures of the demo report and of the recipe search (matplotlib, Agg backend: no display
needed). Each returns a figure; :func:`tools.common.report.write_report` saves it as PNG."""

from typing import Dict, List, Sequence, Tuple

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

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


def plot_general_weights(weights: Dict[str, Curve], seed: int):
    """GeneralSoftTarget's ensemble weight of each student, per epoch, in one run."""
    fig, ax = plt.subplots(figsize=(6, 3.6))
    for colour, (student, (steps, values)) in zip(GENERATOR_COLOURS, sorted(weights.items())):
        ax.plot(steps, values, color=colour, label=student, linewidth=2)
    ax.axhline(
        1 / max(1, len(weights)), color='black', linewidth=0.8, linestyle=':', label='uniform'
    )
    ax.set_xlabel('epoch')
    ax.set_ylabel('ensemble weight')
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))
    ax.set_title(f'General generator: Perrone-Cooper weights (seed {seed})')
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def plot_general_weightings(weights: Dict[str, Dict[str, Curve]], chosen: str, seed: int):
    """General's weights per epoch of one seed, one panel per weighting (the closed form, the
    paper's, beside the chosen one)."""
    shown = ['closed_form'] + ([chosen] if chosen != 'closed_form' else [])
    shown = [w for w in shown if w in weights]
    fig, axes = plt.subplots(
        1, len(shown), figsize=(4.5 * len(shown), 3.2), sharey=True, squeeze=False, dpi=80
    )
    for ax, weighting in zip(axes[0], shown):
        for name, (epochs, values) in sorted(weights[weighting].items()):
            ax.plot(epochs, values, marker='.', label=name)
        ax.axhline(0, color='grey', linewidth=0.5)
        role = 'chosen' if weighting == chosen else 'paper'
        ax.set_title(f'{weighting} ({role}), seed {seed}')
        ax.set_xlabel('training epoch')
    axes[0][0].set_ylabel('General weight')
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    return fig
