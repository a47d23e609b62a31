"""tools/demo/report_render.py and the writer on a synthetic demo: report.md's tables and
verdicts, the PNG figures."""

import json
import os.path as osp

from tools.common.report import write_report
from tools.demo.report_build import build
from tools.demo.report_render import render, render_markdown
from tools.demo.settings import REPORT_FILES

from .demo_files import assert_png, assert_tables_well_formed, val_records, write_json, write_lines


def write_demo_report(manifest, root):
    """build, render, write: what the demo's pipeline does after its runs."""
    report, figure_data = build(manifest, root)
    return write_report(root, REPORT_FILES, report, *render(report, figure_data))


def test_report_files_markdown_and_plots(synthetic_demo):
    root, manifest = synthetic_demo
    paths = write_demo_report(manifest, root)
    with open(paths['json']) as f:
        report = json.load(f)
    assert set(report['plots']) == {'val_curves/resnet18', 'val_curves/mobilenet_v2'}
    for name in report['plots'].values():
        assert_png(osp.join(root, name))
    with open(paths['markdown']) as f:
        markdown = f.read()
    # Issue 15 added the 95 % interval and sign test columns and the interval verdict.
    assert (
        '| resnet18 | 91.00 ± 1.41 | 92.50 ± 2.12 | +1.50 ± 0.71 | [-4.85, +7.85] | 0.5 | '
        'inconclusive (KDCL higher in 2/2 seeds) |' in markdown
    )
    assert (
        '| mobilenet_v2 | 86.50 ± 2.12 | 85.50 ± 2.12 | -1.00 ± 0.00 | [-1.00, -1.00] | 0.5 | '
        'lower (KDCL higher in 0/2 seeds) |' in markdown
    )
    assert (
        '| detection | resnet18 | bbox mAP | 26.00 ± 8.49 | 28.00 ± 4.24 | +2.00 ± 4.24 | '
        '[-36.12, +40.12] | 1 | inconclusive (KDCL higher in 1/2 seeds) |' in markdown
    )
    assert '| Naive | 89.00 | 86.00 | 90.00 | 1 |' in markdown
    assert 'KDCL did NOT beat solo training' in markdown
    assert 'QUICK RUN' not in markdown
    assert len(assert_tables_well_formed(markdown)) == 5  # students, generators, downstream,
    # per seed, timings


def test_quick_report_says_numbers_are_not_meaningful(synthetic_demo):
    root, manifest = synthetic_demo
    manifest['mode'] = 'quick'
    report, _ = build(manifest, root)
    assert report['meaningful'] is False and 'NOT meaningful' in report['note']
    assert 'QUICK RUN' in render_markdown(report).split('\n')[2]


def test_general_weights_are_plotted_when_logged(synthetic_demo):
    root, manifest = synthetic_demo
    scalars = 'runs/kdcl_General/seed0/scalars.json'
    write_lines(
        osp.join(root, scalars),
        [
            {
                'general_weight/resnet18': 0.6,
                'general_weight/mobilenet_v2': 0.4,
                'epoch': 1,
                'step': 10,
            },
            {
                'general_weight/resnet18': 0.7,
                'general_weight/mobilenet_v2': 0.3,
                'epoch': 2,
                'step': 20,
            },
            *val_records({'resnet18/top1': 90.0, 'mobilenet_v2/top1': 85.0}),
        ],
    )
    write_json(
        osp.join(root, 'runs/kdcl_General/seed0/test_metrics.json'),
        {'resnet18/top1': 90.0, 'mobilenet_v2/top1': 85.0, 'ensemble/top1': 91.0},
    )
    manifest['runs'].append(
        dict(
            kind='kdcl',
            generator='General',
            seed=0,
            scalars=scalars,
            test_metrics='runs/kdcl_General/seed0/test_metrics.json',
        )
    )
    with open(write_demo_report(manifest, root)['json']) as f:
        report = json.load(f)
    assert report['plots']['general_weights'] == 'general_weights.png'
    assert_png(osp.join(root, 'general_weights.png'))
