"""The recipe search's val numbers, scores and table (markdown and JSON).

Every number is the val top-1 (500 digits) that a training run logged in its
``vis_data/scalars.json``: the last epoch (the epoch the demo evaluates) and the mean of the
last :data:`LAST_K` epochs (less noisy; what candidates are ranked on). Nothing here reads the
test split.
"""

from typing import Dict, List, Optional

from tools.common.scalars import find_scalars, load_scalars, metric_curve

from .comparison import compare, format_interval, format_stat, summarize
from .runs import finished

LAST_K = 5
STATS = ('last', f'last{LAST_K}')
SOLO_KEY = 'accuracy/top1'


def val_numbers(work_dir: str, key: str) -> Optional[Dict[str, float]]:
    """``{'last': ..., 'last5': ...}`` val top-1 of one finished run (None if not finished)."""
    scalars = find_scalars(work_dir)
    if not finished(work_dir) or scalars is None:
        return None
    _, values = metric_curve(load_scalars(scalars), key)
    if not values:
        raise ValueError(f'{scalars} has no {key!r}: was the run validated every epoch?')
    tail = values[-LAST_K:]
    return {'last': values[-1], f'last{LAST_K}': sum(tail) / len(tail)}


def per_seed(work_dirs: Dict[int, str], key: str) -> Dict[str, Dict[int, float]]:
    """``{stat: {seed: value}}`` over the finished runs among ``work_dirs`` (seed -> dir)."""
    table: Dict[str, Dict[int, float]] = {stat: {} for stat in STATS}
    for seed, work_dir in work_dirs.items():
        numbers = val_numbers(work_dir, key)
        for stat, value in (numbers or {}).items():
            table[stat][seed] = value
    return table


def candidate_row(
    candidate, kdcl_dirs: Dict[int, str], solo: Dict[str, dict], students: List[str]
) -> dict:
    """One candidate's val numbers per student, paired with solo by seed, and its score.

    The score is the smallest, over students, mean paired difference (KDCL minus solo, mean
    of the last epochs): the search looks for a recipe where *every* student gains.
    """
    row = dict(candidate.as_dict(), students={})
    for student in students:
        numbers = per_seed(kdcl_dirs, f'{student}/top1')
        row['students'][student] = {
            stat: dict(
                kdcl=summarize(numbers[stat]), vs_solo=compare(numbers[stat], solo[student][stat])
            )
            for stat in STATS
        }
    gains = [row['students'][s][STATS[1]]['vs_solo']['delta']['mean'] for s in students]
    row['seeds'] = sorted(
        set.intersection(*(set(row['students'][s][STATS[1]]['vs_solo']['seeds']) for s in students))
    )
    row['score'] = min(gains) if gains and None not in gains else None
    return row


def rank(rows: List[dict]) -> List[dict]:
    """Rows with a score, best first (ties: the higher mean gain over students, then name)."""

    def key(row):
        gains = [v[STATS[1]]['vs_solo']['delta']['mean'] for v in row['students'].values()]
        return (-row['score'], -sum(gains) / len(gains), row['name'])

    return sorted((r for r in rows if r['score'] is not None), key=key)


def render_markdown(table: dict) -> str:
    """The val table: every candidate, one row each, with its stage and status."""
    students = table['students']
    lines = [
        f'Val top-1 (%), mean of the last {LAST_K} epochs, mean ± sd over seeds; Δ = '
        'KDCL − solo paired by seed, with its 95 % t-interval and the verdict (higher only '
        'when the interval lies above 0). Score = the smaller Δ of the two students.',
        '',
        '| solo | ' + ' | '.join(students) + ' | seeds |',
        '|---' * (len(students) + 2) + '|',
        '| val top-1 | '
        + ' | '.join(format_stat(table['solo'][s][STATS[1]]) for s in students)
        + f' | {", ".join(map(str, table["solo_seeds"]))} |',
        '',
    ]
    header = ['stage', 'candidate', 'seeds']
    for s in students:
        header += [f'{s} val', f'Δ {s}', '95 % interval', 'verdict']
    header += ['score', 'status']
    lines += ['| ' + ' | '.join(header) + ' |', '|---' * len(header) + '|']
    for row in table['candidates']:
        cells = [row['stage'], row['label'], str(len(row['seeds']))]
        for s in students:
            numbers = row['students'][s][STATS[1]]
            cells += [
                format_stat(numbers['kdcl']),
                format_stat(numbers['vs_solo']['delta'], signed=True),
                format_interval(numbers['vs_solo']['interval']),
                numbers['vs_solo']['verdict'],
            ]
        cells += ['—' if row['score'] is None else f'{row["score"]:+.2f}', row['status']]
        lines.append('| ' + ' | '.join(cells) + ' |')
    winner = table.get('winner')
    lines += ['', f'Winner: {winner}' if winner else 'No winner yet (the final stage has not run).']
    if table.get('partial'):
        lines += ['', f'PARTIAL: {table["partial"]}']
    return '\n'.join(lines) + '\n'


def solo_numbers(solo_dirs: Dict[str, Dict[int, str]]) -> Dict[str, dict]:
    """``{student: {stat: {seed: value}}}`` of the solo runs."""
    return {student: per_seed(dirs, SOLO_KEY) for student, dirs in solo_dirs.items()}
