"""tools/analysis_tools/benchmark/data.py: the single-view pipeline the benchmark compares with."""

from tools.analysis_tools.benchmark.data import single_view_pipeline


def test_single_view_pipeline_unwraps_multiview():
    distortion = [dict(type='Resize', scale=(64, 64)), dict(type='RandomCrop', crop_size=64)]
    pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='MultiView', num_views=2, transforms=[distortion]),
        dict(type='PackInputs'),
    ]
    assert single_view_pipeline(pipeline) == [pipeline[0], *distortion, pipeline[2]]
