"""The recipe search's val numbers, scores and table (markdown and JSON).

Every number is the val top-1 (500 digits) that a training run logged in its
``vis_data/scalars.json``: the last epoch (the epoch the demo evaluates) and the mean of the
last :data:`LAST_K` epochs (less noisy; what candidates are ranked on). Nothing here reads the
test split. Where General ran with several weightings at the same T, λ and warm-up, a section
compares them: the ensemble's val top-1 and how the weights behaved (:func:`general_sections`).
"""

from collections import defaultdict
from typing import Dict, List, Optional

from tools.common.report import md_table
from tools.common.scalars import find_scalars, general_weights, load_scalars, metric_curve
from tools.common.stats import summarize
from tools.common.sweep import finished, run_dir

from .comparison import compare, difference_cells, format_interval, format_stat
from .settings import ENSEMBLE, GENERAL_WEIGHTING, SOLO_KEY, top1_key

LAST_K = 5
STATS = ('last', f'last{LAST_K}')


def finished_records(work_dir: str) -> Optional[List[dict]]:
    """The ``scalars.json`` records of a run that finished (None if it has not)."""
    scalars = find_scalars(work_dir)
    return load_scalars(scalars) if finished(work_dir) and scalars else None


def per_seed(work_dirs: Dict[int, str], key: str) -> Dict[str, Dict[int, float]]:
    """``{stat: {seed: value}}``: the val ``key`` of the finished runs among ``work_dirs``
    (seed -> dir) at the last epoch (``'last'``) and averaged over the last :data:`LAST_K`."""
    table: Dict[str, Dict[int, float]] = {stat: {} for stat in STATS}
    for seed, work_dir in work_dirs.items():
        records = finished_records(work_dir)
        if records is None:
            continue
        _, values = metric_curve(records, key)
        if not values:
            raise ValueError(
                f'{find_scalars(work_dir)} has no {key!r}: was the run validated every epoch?'
            )
        tail = values[-LAST_K:]
        table['last'][seed], table[STATS[1]][seed] = values[-1], sum(tail) / len(tail)
    return table


def solo_numbers(solo_dirs: Dict[str, Dict[int, str]]) -> Dict[str, dict]:
    """``{student: {stat: {seed: value}}}`` of the solo runs."""
    return {student: per_seed(dirs, SOLO_KEY) for student, dirs in solo_dirs.items()}


def gains(row: dict) -> List[Optional[float]]:
    """A candidate's mean paired gain over solo (mean of the last epochs), per student."""
    return [v[STATS[1]]['vs_solo']['delta']['mean'] for v in row['students'].values()]


def candidate_row(
    candidate, kdcl_dirs: Dict[int, str], solo: Dict[str, dict], students: List[str]
) -> dict:
    """One candidate's val numbers per student, paired with solo by seed, and its score.

    The score is the smallest, over students, mean paired difference (KDCL minus solo, mean
    of the last epochs): the search looks for a recipe where *every* student gains. A General
    candidate also gets :func:`general_numbers`.
    """
    row = dict(candidate.as_dict(), students={})
    for student in students:
        numbers = per_seed(kdcl_dirs, top1_key(student))
        row['students'][student] = {
            stat: dict(
                kdcl=summarize(numbers[stat]), vs_solo=compare(numbers[stat], solo[student][stat])
            )
            for stat in STATS
        }
    paired = [set(v[STATS[1]]['vs_solo']['seeds']) for v in row['students'].values()]
    row['seeds'] = sorted(set.intersection(*paired))
    row['score'] = min(gains(row)) if students and None not in gains(row) else None
    if candidate.weighting:
        row['general'] = general_numbers(candidate.weighting, kdcl_dirs)
    return row


def rank(rows: List[dict]) -> List[dict]:
    """Rows with a score, best first (ties: the higher mean gain over students, then name)."""

    def key(row):
        return (-row['score'], -sum(gains(row)) / len(gains(row)), row['name'])

    return sorted((r for r in rows if r['score'] is not None), key=key)


def render_markdown(table: dict) -> str:
    """The val table: every candidate, one row each, with its stage and status."""
    students = table['students']
    lines = [
        f'Val top-1 (%), mean of the last {LAST_K} epochs, mean ± sd over seeds; Δ = '
        'KDCL − solo paired by seed, with its 95 % t-interval and the verdict (higher only '
        'when the interval lies above 0). Score = the smaller Δ of the two students.',
        '',
    ]
    solo = [format_stat(table['solo'][s][STATS[1]]) for s in students]
    seeds = ', '.join(map(str, table['solo_seeds']))
    lines += md_table(['solo', *students, 'seeds'], [['val top-1', *solo, seeds]]) + ['']
    header = ['stage', 'candidate', 'seeds']
    for s in students:
        header += [f'{s} val', f'Δ {s}', '95 % interval', 'verdict']
    rows = []
    for row in table['candidates']:
        cells = [row['stage'], row['label'], str(len(row['seeds']))]
        for s in students:
            numbers = row['students'][s][STATS[1]]
            vs_solo = numbers['vs_solo']
            cells += [format_stat(numbers['kdcl']), *difference_cells(vs_solo), vs_solo['verdict']]
        rows.append(
            cells + ['—' if row['score'] is None else f'{row["score"]:+.2f}', row['status']]
        )
    lines += md_table(header + ['score', 'status'], rows)
    winner = table.get('winner')
    lines += ['', f'Winner: {winner}' if winner else 'No winner yet (the final stage has not run).']
    if table.get('partial'):
        lines += ['', f'PARTIAL: {table["partial"]}']
    for section in general_sections(table):
        lines += _general_lines(table, section)
    return '\n'.join(lines) + '\n'


def general_run(work_dir: str) -> Optional[dict]:
    """General's weights per epoch (``{student: (epochs, weights)}``) and shrinkage intensity
    per epoch of one finished run, as GeneralWeightsHook logged them (None if not finished)."""
    records = finished_records(work_dir)
    if records is None:
        return None
    intensity = metric_curve(records, 'general_shrinkage', 'epoch')[1]
    return dict(weights=general_weights(records), intensity=intensity)


def weight_change(weights: Dict[str, tuple]) -> float:
    """Mean |change| of a student's weight from one epoch to the next, over students."""
    changes = [abs(b - a) for _, w in weights.values() for a, b in zip(w, w[1:])]
    return sum(changes) / len(changes) if changes else 0.0


def general_numbers(weighting: str, kdcl_dirs: Dict[int, str]) -> dict:
    """A General candidate's val ensemble top-1 (last epoch) and, pooled over its runs, the
    range of its weights, their mean change between epochs and the shrinkage intensity."""
    runs = {seed: general_run(d) for seed, d in sorted(kdcl_dirs.items())}
    runs = {seed: run for seed, run in runs.items() if run}
    weights = [w for run in runs.values() for _, ws in run['weights'].values() for w in ws]
    intensity = [v for run in runs.values() for v in run['intensity']]
    changes = [weight_change(run['weights']) for run in runs.values()]
    return dict(
        weighting=weighting,
        ensemble=summarize(per_seed(kdcl_dirs, top1_key(ENSEMBLE))['last']),
        weights=[min(weights), max(weights)] if weights else None,
        weight_change=sum(changes) / len(changes) if changes else None,
        shrinkage=[min(intensity), max(intensity)] if intensity else None,
    )


def general_sections(table: dict) -> List[dict]:
    """General's candidates grouped by T, λ and warm-up, where a group holds several weightings
    that ran; each with the weighting chosen (highest mean val ensemble top-1, ties: the
    steadier weights) and the rows of the others."""
    groups = defaultdict(list)
    for row in table['candidates']:
        if row.get('general') and row['general']['ensemble']['n']:
            groups[(row['temperature'], row['kd_weight'], row['warmup'])].append(row)
    sections = []
    for (t, w, warmup), rows in groups.items():
        if len(rows) > 1:
            chosen = max(
                rows,
                key=lambda r: (r['general']['ensemble']['mean'], -r['general']['weight_change']),
            )
            title = f'T={t:g} λ={w:g}' + (' +warm-up' if warmup else '')
            sections.append(dict(title=title, rows=rows, chosen=chosen))
    return sections


def _general_lines(table: dict, section: dict) -> List[str]:
    """One section: the table, each weighting against the closed form, the choice."""
    rows, chosen = section['rows'], section['chosen']['general']['weighting']
    models = [ENSEMBLE] + sorted(table['students'])

    def cell(row, model):
        g = row['general']
        stats = g['ensemble'] if model == ENSEMBLE else row['students'][model]['last']['kdcl']
        values = ', '.join(f'{v:.1f}' for v in stats['per_seed'].values())
        return f'{format_stat(stats, 1)} ({values})'

    header = ['weighting', *(f'val {m} top-1' for m in models), 'weights: min / max']
    body = [
        [f'`{r["general"]["weighting"]}`', *(cell(r, m) for m in models)]
        + [f'{r["general"]["weights"][0]:+.2f} / {r["general"]["weights"][1]:+.2f}']
        + [f'{r["general"]["weight_change"]:.3f}']
        for r in rows
    ]
    lines = [
        '',
        f"## General's weightings, {section['title']}",
        '',
        'Last val epoch (val split, never test); mean ± std over seeds (per-seed values in '
        "brackets). The weights pool all epochs and seeds; the last column is a weight's mean "
        'absolute change from one epoch to the next.',
        '',
    ]
    lines += md_table(header + ['mean change of a weight between epochs'], body) + ['']
    base = next((r for r in rows if r['general']['weighting'] == 'closed_form'), None)
    for row in [r for r in rows if base and r is not base]:
        ensemble, base_ensemble = row['general']['ensemble'], base['general']['ensemble']
        c = compare(ensemble['per_seed'], base_ensemble['per_seed'])
        n, ci = len(c['seeds']), c['interval']
        interval = '' if ci['low'] is None else f', 95 % t-interval {format_interval(ci, 1)}'
        lines.append(
            f'- `{row["general"]["weighting"]}` − `closed_form`, val ensemble top-1: mean '
            f'{ci["mean"]:+.1f} over {n} seeds{interval}; higher in {c["kdcl_higher_in"]} of '
            f'{n} seeds.'
        )
    lines += ['', f'Chosen: `{chosen}` (highest mean val ensemble top-1; ties: steadier weights).']
    shrinkage = [r['general']['shrinkage'] for r in rows if r['general']['shrinkage']]
    if shrinkage:
        low, high = min(s[0] for s in shrinkage), max(s[1] for s in shrinkage)
        lines.append(f'Shrinkage intensity over epochs and seeds: {low:.2f} to {high:.2f}.')
    return lines


def figure_data(table: dict, out_dir: str) -> Dict[str, dict]:
    """The search's figure (for :func:`tools.demo.plots.draw`): General's weights per epoch on
    the first seed of the section whose choice scored best, the closed form (the paper's)
    beside the chosen weighting. Empty when no section compares weightings."""
    sections = general_sections(table)
    if not sections:
        return {}
    best = max(sections, key=lambda s: s['chosen']['general']['ensemble']['mean'])
    chosen = best['chosen']['general']['weighting']
    seed = min(int(s) for s in best['chosen']['general']['ensemble']['per_seed'])
    panels = {}
    for row in sorted(best['rows'], key=lambda r: r['general']['weighting'] != 'closed_form'):
        weighting = row['general']['weighting']
        run = general_run(run_dir(out_dir, row['name'], seed))
        if run and weighting in ('closed_form', chosen):
            role = 'chosen' if weighting == chosen else 'paper'
            panels[f'{weighting} ({role}), seed {seed}'] = run['weights']
    return {GENERAL_WEIGHTING: dict(panels=panels)}
