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
from tools.common.stats import summarize

from .comparison import VERDICTS, compare
from .settings import (
    DOWNSTREAM_DIFFERENCES,
    ENSEMBLE,
    GENERAL_WEIGHTS,
    SOLO_KEY,
    figure_file,
    top1_key,
)

# 2: verdicts from the paired 95 % interval; sign test; downstream for every student.
SCHEMA_VERSION = 2
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
Scores = Dict[tuple, Dict[int, float]]


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


def _check_runs(runs: List[dict]) -> None:
    for run in runs:
        if run.get('kind') not in RUN_KINDS:
            raise ValueError(f'manifest run {run}: kind must be one of {RUN_KINDS}.')
        if 'seed' not in run or 'test_metrics' not in run:
            raise ValueError(f'manifest run {run}: needs seed and test_metrics.')


def scores(manifest: dict, root: str) -> Tuple[Scores, Dict[tuple, List[int]]]:
    """Every test number of the runs, ``{what: {seed: value}}``, ``what`` being
    ``('solo', student)``, ``('kdcl', generator, student or ENSEMBLE)`` or
    ``(task, student, backbone)``; and the seeds whose detector found no box, by ``what``."""
    table: Scores = defaultdict(dict)
    empty: Dict[tuple, List[int]] = defaultdict(list)
    names = list(manifest['students']) + [ENSEMBLE]
    for run in manifest['runs']:
        metrics, kind = _read_metrics(run, root), run['kind']
        if kind == 'solo':
            keys = {('solo', run['student']): (SOLO_KEY, 1.0)}
        elif kind == 'kdcl':
            keys = {('kdcl', run['generator'], n): (top1_key(n), 1.0) for n in names}
        else:
            key, scale, _ = DOWNSTREAM_METRICS[kind]
            keys = {(kind, run['student'], run['backbone']): (key, scale)}
            if kind == 'detection' and not metrics:
                # mmdet's CocoMetric returns no metrics at all when the detector output
                # no box above its score threshold on any image: that is an mAP of 0.
                metrics = {key: 0.0}
                empty[(kind, run['student'], run['backbone'])].append(run['seed'])
        for what, (key, scale) in keys.items():
            if key not in metrics:
                raise KeyError(f'{run["test_metrics"]} has no {key!r} (keys: {sorted(metrics)}).')
            table[what][run['seed']] = float(metrics[key]) * scale
    return table, empty


def classification_results(manifest: dict, table: Scores) -> dict:
    """Test top-1 per arm, generator and student, summarised over seeds, and the verdicts."""
    students, main = list(manifest['students']), manifest['main_generator']
    names = students + [ENSEMBLE]
    generators = sorted({what[1] for what in table if what[0] == 'kdcl'})
    if main not in generators:
        raise ValueError(
            f'manifest main_generator {main!r} has no kdcl run (generators run: {generators}).'
        )
    kdcl = {gen: {name: table[('kdcl', gen, name)] for name in names} for gen in generators}
    solo = {name: table[('solo', name)] for name in students}
    return dict(
        split='test',
        solo={name: summarize(solo[name]) for name in students},
        kdcl={name: summarize(kdcl[main][name]) for name in names},
        comparison={name: stated(compare(kdcl[main][name], solo[name])) for name in students},
        generators={gen: {n: summarize(per[n]) for n in names} for gen, per in kdcl.items()},
        generator_comparison={
            gen: {name: compare(per[name], solo[name]) for name in students}
            for gen, per in kdcl.items()
        },
    )


def downstream_results(manifest: dict, table: Scores, empty: Dict[tuple, List[int]]) -> dict:
    """Test mAP / mIoU per task, from the KDCL vs the solo backbone, over seeds."""
    results = {}
    for task, (key, _, label) in DOWNSTREAM_METRICS.items():
        ran = {what[1] for what in table if what[0] == task}
        # The manifest's student order (ResNet-18 first), then any other backbone by name.
        others = sorted(ran - set(manifest['students']))
        for student in [s for s in manifest['students'] if s in ran] + others:
            kdcl, solo = table[(task, student, 'kdcl')], table[(task, student, 'solo')]
            results.setdefault(task, {})[student] = dict(
                metric=label,
                source_key=key,
                kdcl=summarize(kdcl),
                solo=summarize(solo),
                comparison=stated(compare(kdcl, solo)),
                no_detections={
                    arm: empty[(task, student, arm)]
                    for arm in ('kdcl', 'solo')
                    if empty[(task, student, arm)]
                },
            )
    return results


def _curves(runs: List[dict], root: str, key: str) -> List[tuple]:
    """The val curve of ``key`` of each run by seed (runs that logged none left out)."""
    curves = [
        metric_curve(load_scalars(_resolve(run['scalars'], root)), key)
        for run in sorted(runs, key=lambda r: r['seed'])
        if run.get('scalars')
    ]
    return [curve for curve in curves if curve[0]]


def downstream_differences(downstream: dict) -> dict:
    """The arguments of :func:`tools.demo.plots.plot_paired_differences` for
    :func:`downstream_results`: a panel per task, in it each backbone's per-seed KDCL − solo
    and their mean with its paired 95 % interval."""
    panels = {}
    for task, per_student in downstream.items():
        backbones = {}
        for student, res in per_student.items():
            interval = res['comparison']['interval']
            backbones[student] = dict(
                per_seed=res['comparison']['delta']['per_seed'],
                mean=interval['mean'],
                low=interval['low'],
                high=interval['high'],
            )
        metric = next(iter(per_student.values()))['metric']
        panels[task] = dict(metric=metric, backbones=backbones)
    return dict(panels=panels)


def figure_data(manifest: dict, root: str, downstream: dict) -> Dict[str, dict]:
    """Figure key -> the arguments of its plot in :mod:`tools.demo.plots`: each student's val
    accuracy curves (KDCL vs solo, and the ablation), General's weights if it ran, and the
    per-seed differences of ``downstream`` (:func:`downstream_results`) if any ran."""
    runs, main, students = manifest['runs'], manifest['main_generator'], manifest['students']
    kdcl_runs = [r for r in runs if r['kind'] == 'kdcl']
    figures = {}
    for name in students:
        solo = _curves(
            [r for r in runs if r['kind'] == 'solo' and r['student'] == name], root, SOLO_KEY
        )
        by_generator = {
            gen: _curves([r for r in kdcl_runs if r['generator'] == gen], root, top1_key(name))
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
    if downstream:
        figures[DOWNSTREAM_DIFFERENCES] = downstream_differences(downstream)
    return figures


def build(manifest: dict, root: str) -> Tuple[dict, Dict[str, dict]]:
    """The report as a JSON-ready dict, and :func:`figure_data`."""
    _check_runs(manifest['runs'])
    quick = manifest['mode'] == 'quick'
    table, empty = scores(manifest, root)
    downstream = downstream_results(manifest, table, empty)
    figures = figure_data(manifest, root, downstream)
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
        classification=classification_results(manifest, table),
        downstream=downstream,
        downstream_students=[
            s for s in manifest['students'] if any(s in per for per in downstream.values())
        ],
        plots={key: figure_file(key) for key in figures},
        timings=manifest.get('timings', {}),
    )
    return report, figures
