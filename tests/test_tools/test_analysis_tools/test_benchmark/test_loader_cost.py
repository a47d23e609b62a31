"""tools/analysis_tools/benchmark/loader_cost.py: the loader report per view count and the
timed units of a deferred pipeline."""

import pytest


def test_loader_report_against_one_view_with_the_device_part():
    from tools.analysis_tools.benchmark.loader_cost import loader_report

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
    from tools.analysis_tools.benchmark.loader_cost import photo_units

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
