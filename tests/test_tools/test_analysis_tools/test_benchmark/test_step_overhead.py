"""tools/analysis_tools/benchmark/step_overhead.py: the KDCL / Σ(students alone) ratios, exactly,
the finite-loss record of a timed step and the lean report."""

import pytest

from tools.analysis_tools.benchmark.step_overhead import overhead_ratios, paired_ratios


def test_ratio_divides_kdcl_by_the_sum_of_students_alone():
    stats = {
        'kdcl/Mean': dict(median_ms=33.0),
        'kdcl/Linear': dict(median_ms=36.0),
        'solo/a': dict(median_ms=10.0),
        'solo/b': dict(median_ms=20.0),
    }
    ratios = overhead_ratios(stats, ['Mean', 'Linear'], ['a', 'b'])
    assert ratios == pytest.approx({'Mean': 1.1, 'Linear': 1.2})


def test_paired_ratios_use_each_rounds_medians():
    times = {'kdcl/Mean': [1, 3, 2, 2], 'solo/a': [1, 1, 0.5, 0.5], 'solo/b': [1, 1, 0.5, 1.5]}
    # Round medians: KDCL (2, 2), Σ alone (2, 1.5): ratios 1 and 4/3.
    paired = paired_ratios(times, ['Mean'], ['a', 'b'], rounds=2)
    assert paired['Mean'] == pytest.approx(dict(median=7 / 6, q1=13 / 12, q3=5 / 4))


class FakeModel:
    """``train_step`` returns the next log variables of ``outputs``."""

    def __init__(self, outputs):
        self.outputs = iter(outputs)

    def train_step(self, batch, optim_wrapper):
        return next(self.outputs)


def test_a_timed_step_records_whether_every_loss_stayed_finite():
    import torch

    from tools.analysis_tools.benchmark.step_overhead import Arm

    outputs = [
        {
            'loss': torch.tensor(1.5),
            'a.loss_kd': torch.tensor([0.5]),
            'a.nonfinite': torch.tensor(0),
        },
        {'loss': torch.tensor(float('nan')), 'a.nonfinite': torch.tensor(3)},
        {'loss': torch.tensor(2.0)},
    ]
    arm = Arm('kdcl/Mean', FakeModel(outputs), optim_wrapper=None)
    assert arm.timed_step({}, 'cpu') >= 0 and arm.finite
    assert arm.last_losses == {'loss': 1.5, 'a.loss_kd': 0.5}  # counts are not losses
    arm.timed_step({}, 'cpu')
    arm.timed_step({}, 'cpu')
    assert not arm.finite and arm.last_losses == {'loss': 2.0}  # a NaN once stays on record


def test_lean_report_pairs_the_two_modes_round_by_round():
    from tools.analysis_tools.benchmark.step_overhead import lean_report

    times = {'kdcl/Mean': [1.0, 1.0, 2.0, 2.0], 'lean/Mean': [1.2, 1.2, 3.0, 3.0]}
    report = lean_report(times, 'Mean', rounds=2)
    assert report['ratio'] == pytest.approx(2.1 / 1.5)
    # Per-round ratios 1.2 and 1.5.
    assert report['paired_ratio'] == pytest.approx(dict(median=1.35, q1=1.275, q3=1.425))
    assert report['default']['median_ms'] == pytest.approx(1500.0)
