"""tools/common/scalars.py: reading the curves mmengine's LocalVisBackend writes."""

import pytest

from tests.test_tools.test_demo.demo_files import write_lines
from tools.common.scalars import load_scalars, metric_curve


def test_metric_curve_reads_val_records_and_keeps_the_latest_per_epoch(tmp_path):
    path = str(tmp_path / 'scalars.json')
    write_lines(
        path,
        [
            dict(lr=0.1, loss=2.3, epoch=1, iter=10, step=10),
            {'resnet18/top1': 50.0, 'ensemble/top1': 55.0, 'step': 1},
            dict(lr=0.1, loss=1.3, epoch=2, iter=20, step=20),
            {'resnet18/top1': 60.0, 'step': 2},
            {'resnet18/top1': 61.0, 'step': 2},  # a resumed run re-validates epoch 2
            {'resnet18/top1': 70.0, 'step': 3},
        ],
    )
    records = load_scalars(path)
    assert metric_curve(records, 'resnet18/top1') == ([1, 2, 3], [50.0, 61.0, 70.0])
    assert metric_curve(records, 'ensemble/top1') == ([1], [55.0])
    assert metric_curve(records, 'accuracy/top1') == ([], [])
    assert metric_curve(records, 'loss', x='epoch') == ([1, 2], [2.3, 1.3])


def test_load_scalars_names_the_bad_line(tmp_path):
    path = tmp_path / 'scalars.json'
    path.write_text('{"step": 1}\nnot json\n')
    with pytest.raises(ValueError, match='line 2'):
        load_scalars(str(path))
