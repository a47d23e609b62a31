"""tools/demo/report_render.py and the writer on a synthetic demo: report.md's tables and
verdicts, the PNG figures."""

import json
import os.path as osp

import numpy as np
import pytest
from matplotlib.collections import LineCollection, PathCollection

from tools.demo.pipeline import write_demo_report as write_report_of
from tools.demo.plots import plot_paired_differences
from tools.demo.report_build import build
from tools.demo.report_render import render_markdown

from .demo_files import assert_png, assert_tables_well_formed, val_records, write_json, write_lines


def write_demo_report(manifest, root):
    """build, render, write: what the demo's pipeline does after its runs."""
    return write_report_of(root, manifest)


def test_report_files_markdown_and_plots(synthetic_demo):
    root, manifest = synthetic_demo
    paths = write_demo_report(manifest, root)
    with open(paths['json']) as f:
        report = json.load(f)
    assert set(report['plots']) == {
        'val_curves/resnet18',
        'val_curves/mobilenet_v2',
        'downstream_differences',
    }
    assert report['plots']['downstream_differences'] == 'downstream_differences.png'
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
    # Issue 30: downstream as classification, with the verdict in words and the per-seed
    # differences of every (task, backbone).
    assert (
        '- **segmentation, resnet18 backbone (mIoU)**: KDCL beat solo training: the 95 % '
        'interval of the paired difference lies above 0 (KDCL higher in 2 of 2 seeds).'
    ) in markdown
    assert '- **detection, mobilenet_v2 backbone (bbox mAP)**: not shown either way' in markdown
    assert '| resnet18 (KDCL Mean), KDCL − solo | +1.00 | +2.00 |' in markdown
    assert '| detection bbox mAP, solo resnet18 | 20.00 | 32.00 |' in markdown
    assert '| detection bbox mAP, kdcl resnet18 | 25.00 | 31.00 |' in markdown
    assert '| detection bbox mAP, resnet18, KDCL − solo | +5.00 | -1.00 |' in markdown
    assert '| segmentation mIoU, mobilenet_v2, KDCL − solo | +0.00 | -1.00 |' in markdown
    assert '![downstream_differences](downstream_differences.png)' in markdown
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


def test_paired_differences_plot_a_point_per_seed_the_mean_its_interval_and_zero():
    per_seed = {'0': 5.0, '1': -1.0, '2': 2.0}
    panels = {
        'detection': dict(
            metric='bbox mAP',
            backbones={
                'resnet18': dict(per_seed=per_seed, mean=2.0, low=-5.45, high=9.45),
                'mobilenet_v2': dict(per_seed={'0': 1.5}, mean=1.5, low=None, high=None),
            },
        ),
        'segmentation': dict(
            metric='mIoU',
            backbones={'resnet18': dict(per_seed={'0': 3.0, '1': 3.0}, mean=3.0, low=3, high=3)},
        ),
    }
    fig = plot_paired_differences(panels)
    det, seg = fig.axes
    assert [t.get_text() for t in det.get_xticklabels()] == ['resnet18', 'mobilenet_v2']
    assert 'mAP' in det.get_ylabel() and 'detection' in det.get_title()
    points = [c.get_offsets() for c in det.collections if isinstance(c, PathCollection)]
    assert sorted(len(p) for p in points) == [1, 3]  # a point per seed per backbone
    resnet18 = next(p for p in points if len(p) == 3)
    assert list(resnet18[:, 1]) == [5.0, -1.0, 2.0]
    assert np.all(resnet18[:, 0] < 0.1)  # left of resnet18's mean, at x = 0.15
    assert np.all(np.diff(resnet18[:, 0]) > 0)  # side by side, not on top of each other
    assert sorted(t.get_text() for t in det.texts) == ['s0', 's0', 's1', 's2']
    # The interval's whisker spans [low, high] at the mean's x.
    whiskers = [
        w for c in det.collections if isinstance(c, LineCollection) for w in c.get_segments()
    ]
    assert any(np.allclose(w, [[0.15, -5.45], [0.15, 9.45]]) for w in whiskers)
    means = [ln.get_xydata().tolist() for ln in det.lines if ln.get_marker() == 'D']
    assert [[0.15, 2.0]] in means and [[1.15, 1.5]] in means
    for ax in (det, seg):  # one line at 0 in each panel
        assert [list(ln.get_ydata()) for ln in ax.lines].count([0, 0]) == 1
    seg_points = [c.get_offsets() for c in seg.collections if isinstance(c, PathCollection)]
    assert len(seg_points[0]) == 2 and seg_points[0][0, 0] != seg_points[0][1, 0]
    assert pytest.approx(det.get_xlim()) == (-0.6, 1.6)
