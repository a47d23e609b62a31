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


def test_view_pipelines_per_view_count_on_the_cpu_and_the_device():
    from tools.analysis_tools.benchmark.data import view_pipelines

    distortion = [dict(type='RandomResizedCrop', scale=224), dict(type='ColorJitter')]
    pipeline = [
        dict(type='LoadImageFromFile'),
        dict(type='DeferredMultiView', num_views=2, transforms=[distortion]),
        dict(type='PackInputs'),
    ]
    out = view_pipelines(pipeline, (2, 3))
    assert list(out) == ['1 view', '2 views, CPU', '2 views, device', '3 views, CPU'] + [
        '3 views, device'
    ]
    assert out['1 view'] == [pipeline[0], *distortion, pipeline[2]]
    assert out['3 views, CPU'][1] == dict(type='MultiView', num_views=3, transforms=[distortion])
    assert out['3 views, device'][1]['type'] == 'DeferredMultiView'
    assert out['3 views, device'][2] == dict(type='PackInputs', algorithm_keys=['view_distortion'])
    assert out['3 views, CPU'][2] == dict(type='PackInputs')
    assert pipeline[1]['type'] == 'DeferredMultiView'  # the config is left alone


def test_the_imagenet_recipes_pipeline_is_measured_on_the_cpu_and_the_device():
    """The recipe's own DeferredMultiView + PackInputs(view_distortion): the CPU and 1-view
    arms carry no view_distortion, the device arm carries it once."""
    from mmengine.config import Config

    from tools.analysis_tools.benchmark.data import view_pipelines

    cfg = Config.fromfile('configs/kdcl/r50_r18_mbv2_imagenet.py')
    pipeline = cfg.train_dataloader.dataset.pipeline
    assert pipeline[1]['type'] == 'DeferredMultiView'
    out = view_pipelines(pipeline, (3,))
    assert out['1 view'][0]['type'] == 'LoadImageFromFile'
    assert [t['type'] for t in out['1 view'][1:4]] == [
        'RandomResizedCrop',
        'RandomFlip',
        'ColorJitter',
    ]
    assert out['1 view'][-1] == dict(type='PackInputs')
    assert out['3 views, CPU'][1]['type'] == 'MultiView'
    assert out['3 views, CPU'][-1] == dict(type='PackInputs')
    assert out['3 views, device'][-1] == dict(type='PackInputs', algorithm_keys=['view_distortion'])
    assert single_view_pipeline(pipeline) == out['1 view']


def test_photos_are_500x375_jpegs(tmp_path):
    import cv2

    from tools.analysis_tools.benchmark.data import make_photo_jpegs

    (path,) = make_photo_jpegs(str(tmp_path))  # matplotlib's photo only, without a wheel
    assert path.endswith('grace_hopper.jpg')
    assert cv2.imread(path).shape == (375, 500, 3)
