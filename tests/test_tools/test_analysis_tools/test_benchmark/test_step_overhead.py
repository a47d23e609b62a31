"""tools/analysis_tools/benchmark/measure.py: step statistics and the KDCL / Σ(students alone)
ratios, exactly."""

import pytest

from tools.analysis_tools.benchmark.measure import ms_summary, overhead_ratios, paired_ratios


def test_summarise_gives_median_and_quartiles_in_ms():
    stats = ms_summary([0.004, 0.001, 0.003, 0.002])
    # numpy's linear interpolation on [1, 2, 3, 4] ms: quartiles at 1.75 and 3.25.
    assert stats == dict(
        median_ms=pytest.approx(2.5),
        q1_ms=pytest.approx(1.75),
        q3_ms=pytest.approx(3.25),
        iqr_ms=pytest.approx(1.5),
        n=4,
    )


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

    from tools.analysis_tools.benchmark.measure import Arm

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
    from tools.analysis_tools.benchmark.measure import lean_report

    times = {'kdcl/Mean': [1.0, 1.0, 2.0, 2.0], 'lean/Mean': [1.2, 1.2, 3.0, 3.0]}
    report = lean_report(times, 'Mean', rounds=2)
    assert report['ratio'] == pytest.approx(2.1 / 1.5)
    # Per-round ratios 1.2 and 1.5.
    assert report['paired_ratio'] == pytest.approx(dict(median=1.35, q1=1.275, q3=1.425))
    assert report['default']['median_ms'] == pytest.approx(1500.0)


def test_loader_report_against_one_view_with_the_device_part():
    from tools.analysis_tools.benchmark.measure import loader_report

    times = {
        '1 view': [0.002, 0.004],
        '2 views, CPU': [0.006],
        '2 views, device': [0.0033],
        '2 views, device, on the device': [0.0003],
    }
    report = loader_report(times, ['/x/a.jpg'])
    assert report['photos'] == ['a.jpg']
    assert report['pipelines'] == {
        '1 view': dict(ms_per_image=pytest.approx(3.0), x_solo=1.0),
        '2 views, CPU': dict(ms_per_image=pytest.approx(6.0), x_solo=pytest.approx(2.0)),
        '2 views, device': dict(
            ms_per_image=pytest.approx(3.3),
            x_solo=pytest.approx(1.1),
            device_ms_per_image=pytest.approx(0.3),
            with_device_x_solo=pytest.approx(1.2),
        ),
    }


def test_photo_units_time_the_device_part_of_a_deferred_pipeline(tmp_path):
    from tools.analysis_tools.benchmark.data import make_photo_jpegs, view_pipelines
    from tools.analysis_tools.benchmark.measure import photo_units

    distortion = [
        dict(type='RandomResizedCrop', scale=32),
        dict(type='RandomFlip', prob=0.5, direction='horizontal'),
        dict(type='ColorJitter', brightness=0.4, contrast=0.4, saturation=0.4),
    ]
    pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='MultiView', num_views=2, transforms=[distortion]),
        dict(type='PackInputs'),
    ]
    times = {}
    units = photo_units(view_pipelines(pipeline, (2,)), make_photo_jpegs(str(tmp_path)), times)
    names = ['1 view', '2 views, CPU', '2 views, device', '2 views, device, on the device']
    assert [name for name, _ in units] == names
    for _, run in units:
        run()
    assert {name: len(t) for name, t in times.items()} == dict.fromkeys(names, 1)
