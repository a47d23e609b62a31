"""tools/analysis_tools/benchmark/activation_memory.py: the activation bytes of the default and lean
modes against each student alone (deterministic bounds), and the batch-size estimate's
arithmetic."""

import pytest
import torch

from tests.tiny import tiny_mobilenet_v2
from tools.analysis_tools.benchmark.activation_memory import (
    GIB,
    SavedTensorBytes,
    activation_peaks,
    activation_report,
    estimated_max_batch,
    state_bytes,
)


@pytest.mark.slow
def test_lean_peak_is_the_largest_student_not_the_sum(build_tiny_kdcl, multi_view_batch):
    # Two students of one size, so that the sum is twice the largest.
    model = build_tiny_kdcl(students=[tiny_mobilenet_v2(), tiny_mobilenet_v2()])
    arms = activation_peaks(model, *multi_view_batch())
    alone = [arms[f'{name} alone'] for name in model.student_names]
    largest = max(a['allocated'] for a in alone)
    assert arms['lean']['allocated'] <= 1.1 * largest
    # What the bound guards: the default mode holds both students' activations at once.
    assert arms['default']['allocated'] > 1.8 * largest
    # Saved-tensor hooks see the default mode hold the students' sum, each storage once, and
    # the lean mode hold only the students' inputs (the rest is recomputed in backward).
    saved_sum = sum(a['saved'] for a in alone)
    assert arms['default']['saved'] == pytest.approx(saved_sum, rel=0.01)
    assert arms['lean']['saved'] < 0.05 * saved_sum


@pytest.mark.slow
def test_heterogeneous_students_lean_at_most_1_1_the_largest(build_tiny_kdcl, multi_view_batch):
    model = build_tiny_kdcl()  # ResNet width 8 + MobileNetV2 x0.25
    peaks = activation_peaks(model, *multi_view_batch())
    assert not model.lean  # the model's own mode is restored
    report = activation_report(peaks, model.student_names, state=0, batch_size=4)
    modes = report['modes']
    assert modes['lean']['allocated_x_largest'] <= 1.1
    assert modes['default']['saved_x_sum'] == pytest.approx(1.0, abs=0.01)
    assert modes['default']['allocated_x_sum'] > 0.9  # both students at once
    assert max(modes[f'{n} alone']['allocated_x_largest'] for n in model.student_names) == 1.0
    # Deterministic: a second measurement counts the same bytes.
    assert activation_peaks(model, *multi_view_batch()) == peaks


def test_saved_bytes_count_a_storage_once_and_drop_with_the_graph():
    x = torch.ones(256, requires_grad=True)  # 1 KiB
    counter = SavedTensorBytes()
    with counter.track():
        y = (x * x).sum()  # mul saves x twice: one storage
        assert counter.current == 1024
        del y
    assert (counter.current, counter.peak) == (0, 1024)


def test_report_ratios_and_the_estimated_batch():
    peaks = {
        'default': dict(saved=30, allocated=40),
        'lean': dict(saved=2, allocated=22),
        'a alone': dict(saved=20, allocated=20),
        'b alone': dict(saved=10, allocated=20),
    }
    report = activation_report(peaks, ['a', 'b'], state=GIB, batch_size=4)
    assert report['modes']['default'] == dict(
        saved=30,
        allocated=40,
        saved_x_largest=1.5,
        saved_x_sum=1.0,
        allocated_x_largest=2.0,
        allocated_x_sum=1.0,
    )
    assert report['modes']['lean']['allocated_x_largest'] == pytest.approx(1.1)
    # 24 GiB less 10% and 1 GiB and the 1 GiB state: 19.6 GiB over 10 (default) or 5.5 bytes.
    assert report['estimated_max_batch']['24 GiB'] == dict(
        default=int(19.6 * GIB // 10), lean=int(19.6 * GIB // 5.5)
    )
    assert list(report['estimated_max_batch']) == ['24 GiB', '40 GiB', '80 GiB']
    assert estimated_max_batch(2, state=GIB, per_image=1, margin=0.1) == 0  # nothing left


def test_state_is_parameters_gradients_and_momentum():
    layer = torch.nn.Linear(10, 10)  # 110 float32 parameters
    optimizer = torch.optim.SGD(layer.parameters(), lr=0.1, momentum=0.9)
    assert state_bytes(layer, optimizer) == 2 * 440  # no momentum buffer before a step
    layer(torch.ones(1, 10)).sum().backward()
    optimizer.step()
    assert state_bytes(layer, optimizer) == 3 * 440
