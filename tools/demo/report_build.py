"""The demo report's content, read from what the runs wrote: a JSON-ready dict and the data of
its figures. Reads files, writes none.

The input is a *manifest* (:mod:`tools.demo.pipeline` writes it as ``manifest.json``)::

    dict(mode='quick' | 'default' | 'full', command=str, machine=dict, recipe=dict,
         students=['resnet18', 'mobilenet_v2'], main_generator='Mean', timings=dict,
         runs=[
           dict(kind='kdcl', generator='Mean', seed=0, scalars=..., test_metrics=...),
           dict(kind='solo', student='resnet18', seed=0, scalars=..., test_metrics=...),
           dict(kind='detection' | 'segmentation', backbone='kdcl' | 'solo',
                student='resnet18' | 'mobilenet_v2', seed=0, test_metrics=...),
         ])

``scalars`` is a run's ``vis_data/scalars.json`` and ``test_metrics`` the JSON that
``tools/test.py --out`` dumps; relative paths are relative to the report's folder.
Nothing is assumed: every number in the report is read from those files. Rendering is
:mod:`tools.demo.report_render`; :func:`tools.common.report.write_report` writes the files.
"""

import json
import os.path as osp
from collections import defaultdict
from typing import Dict, List, Tuple

from tools.common.scalars import general_weights, load_scalars, metric_curve

from .comparison import VERDICTS, compare, summarize
from .settings import ENSEMBLE, GENERAL_WEIGHTS, figure_file

# 2: verdicts from the paired 95 % interval; sign test; downstream for every student.
SCHEMA_VERSION = 2
SOLO_KEY = 'accuracy/top1'
# Downstream task -> (metric key in the test metrics, factor to percent, name in the report).
DOWNSTREAM_METRICS = {
    'detection': ('coco/bbox_mAP', 100.0, 'bbox mAP'),
    'segmentation': ('mIoU', 1.0, 'mIoU'),
}
RUN_KINDS = ('kdcl', 'solo') + tuple(DOWNSTREAM_METRICS)
QUICK_NOTE = (
    'QUICK RUN: a smoke test of the whole chain (1 seed, a few epochs, a tiny '
    'downstream). Its numbers are NOT meaningful; run `make demo` or '
    '`bash tools/run_demo.sh --full` for results.'
)


def student_key(student: str) -> str:
    """The KDCLAccuracy key of one student's (or the ensemble's) top-1."""
    return f'{student}/top1'


def stated(comparison: dict) -> dict:
    """The comparison with its verdict in words (``statement``)."""
    return dict(comparison, statement=VERDICTS[comparison['verdict']])


def _resolve(path: str, root: str) -> str:
    return path if osp.isabs(path) else osp.join(root, path)


def _read_metrics(run: dict, root: str) -> dict:
    path = _resolve(run['test_metrics'], root)
    if not osp.isfile(path):
        raise FileNotFoundError(
            f'test metrics of run {run} not found at {path}: the test step '
            "did not finish (see the run's log)."
        )
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
            solo[run['student']][run['seed']] = _metric(
                _read_metrics(run, root), SOLO_KEY, run['test_metrics']
            )
        elif run['kind'] == 'kdcl':
            metrics = _read_metrics(run, root)
            for name in students + [ENSEMBLE]:
                generators[run['generator']][name][run['seed']] = _metric(
                    metrics, student_key(name), run['test_metrics']
                )
    if main not in generators:
        raise ValueError(
            f'manifest main_generator {main!r} has no kdcl run '
            f'(generators run: {sorted(generators)}).'
        )
    comparison = {name: stated(compare(generators[main][name], solo[name])) for name in students}
    return dict(
        split='test',
        solo={name: summarize(solo[name]) for name in students},
        kdcl={name: summarize(generators[main][name]) for name in students + [ENSEMBLE]},
        comparison=comparison,
        generators={
            gen: {name: summarize(per[name]) for name in students + [ENSEMBLE]}
            for gen, per in sorted(generators.items())
        },
        generator_comparison={
            gen: {name: compare(per[name], solo[name]) for name in students}
            for gen, per in sorted(generators.items())
        },
    )


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
        ran = {s for t, s, _ in scores if t == task}
        # The manifest's student order (ResNet-18 first), then any other backbone by name.
        for student in [s for s in manifest['students'] if s in ran] + sorted(
            ran - set(manifest['students'])
        ):
            kdcl, solo = scores[(task, student, 'kdcl')], scores[(task, student, 'solo')]
            comparison = stated(compare(kdcl, solo))
            results.setdefault(task, {})[student] = dict(
                metric=label,
                source_key=key,
                kdcl=summarize(kdcl),
                solo=summarize(solo),
                comparison=comparison,
                no_detections={
                    arm: empty[(task, student, arm)]
                    for arm in ('kdcl', 'solo')
                    if empty[(task, student, arm)]
                },
            )
    return results


def _curves(runs: List[dict], root: str, key_of) -> List[tuple]:
    curves = []
    for run in sorted(runs, key=lambda r: r['seed']):
        if run.get('scalars'):
            curve = metric_curve(load_scalars(_resolve(run['scalars'], root)), key_of(run))
            if curve[0]:
                curves.append(curve)
    return curves


def figure_data(manifest: dict, root: str) -> Dict[str, dict]:
    """Figure key -> the arguments of its plot in :mod:`tools.demo.plots`: each student's val
    accuracy curves (KDCL vs solo, and the ablation), and General's weights if it ran."""
    runs, main, students = manifest['runs'], manifest['main_generator'], manifest['students']
    kdcl_runs = [r for r in runs if r['kind'] == 'kdcl']
    figures = {}
    for name in students:
        solo = _curves(
            [r for r in runs if r['kind'] == 'solo' and r['student'] == name],
            root,
            lambda r: SOLO_KEY,
        )
        by_generator = {
            gen: _curves(
                [r for r in kdcl_runs if r['generator'] == gen], root, lambda r: student_key(name)
            )
            for gen in sorted({r['generator'] for r in kdcl_runs})
        }
        main_curves = by_generator.pop(main, [])
        if solo or main_curves:
            figures[f'val_curves/{name}'] = dict(
                student=name,
                solo=solo,
                kdcl=main_curves,
                kdcl_label=f'KDCL {main}',
                ablation={g: c for g, c in by_generator.items() if c},
            )
    general = sorted(
        (r for r in kdcl_runs if r['generator'] == 'General' and r.get('scalars')),
        key=lambda r: r['seed'],
    )
    if general:
        seed = general[0]['seed']
        weights = general_weights(load_scalars(_resolve(general[0]['scalars'], root)), students)
        if all(steps for steps, _ in weights.values()):
            title = f'General generator: Perrone-Cooper weights (seed {seed})'
            figures[GENERAL_WEIGHTS] = dict(panels={title: weights})
    return figures


def build(manifest: dict, root: str) -> Tuple[dict, Dict[str, dict]]:
    """The report as a JSON-ready dict, and :func:`figure_data`."""
    _check_runs(manifest['runs'])
    quick = manifest['mode'] == 'quick'
    downstream = downstream_results(manifest, root)
    figures = figure_data(manifest, root)
    report = dict(
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
        downstream=downstream,
        downstream_students=[
            s for s in manifest['students'] if any(s in per for per in downstream.values())
        ],
        plots={key: figure_file(key) for key in figures},
        timings=manifest.get('timings', {}),
    )
    return report, figures


def build_report(manifest: dict, root: str) -> dict:
    """The report of :func:`build` alone."""
    return build(manifest, root)[0]
