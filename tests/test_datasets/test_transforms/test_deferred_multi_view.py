"""DeferredMultiView: crops in the loader, flips and colour drawn there with the CPU transforms'
own distributions and applied by the preprocessor, giving MultiView's views."""

import copy

import cv2
import numpy as np
import pytest
import torch
from matplotlib import cbook
from mmengine.config import Config
from mmengine.dataset import Compose, default_collate, pseudo_collate
from mmpretrain.datasets.transforms import ColorJitter

from kdcl_mm.datasets.transforms import split_deferred
from kdcl_mm.datasets.transforms.view_distortion import FACTORS, FLIP, ORDER
from kdcl_mm.engine.runtime.resumable_sampler import seeded_generators
from kdcl_mm.registry import MODELS, TRANSFORMS

IMAGENET_KDCL = 'configs/_base_/datasets/imagenet_bs32_kdcl.py'
DISTORTION = Config.fromfile(IMAGENET_KDCL).distortion


@pytest.fixture(scope='module')
def jpeg(tmp_path_factory):
    """The photo that ships with matplotlib as a 500x375 JPEG, as ImageNet's are."""
    photo = cv2.imread(cbook.get_sample_data('grace_hopper.jpg', asfileobj=False))
    path = str(tmp_path_factory.mktemp('photo') / 'grace_hopper.jpg')
    cv2.imwrite(path, cv2.resize(photo[:384], (500, 375)))
    return path


def pipelines(num_views, distortion=DISTORTION):
    load = dict(type='LoadImageFromFile')
    cpu = [load, dict(type='MultiView', num_views=num_views, transforms=[distortion])]
    deferred = [load, dict(type='DeferredMultiView', num_views=num_views, transforms=[distortion])]
    return (
        Compose([*cpu, dict(type='PackInputs')]),
        Compose([*deferred, dict(type='PackInputs', algorithm_keys=['view_distortion'])]),
    )


def preprocessor():
    return MODELS.build(
        dict(type='MultiViewClsDataPreprocessor', mean=[0.0] * 3, std=[1.0] * 3, num_classes=5)
    )


def test_the_recipe_crops_in_the_loader_and_defers_flip_and_colour():
    cpu, deferred = split_deferred(DISTORTION)
    assert [t['type'] for t in cpu] == ['RandomResizedCrop']
    assert [t['type'] for t in deferred] == ['RandomFlip', 'ColorJitter']
    # Only a trailing run is deferred: a flip before a crop stays where it is.
    flip_first = [DISTORTION[1], DISTORTION[0]]
    assert split_deferred(flip_first) == (flip_first, [])


@pytest.mark.parametrize('collate', [pseudo_collate, default_collate])
def test_views_are_multiviews_under_the_same_sample_seeds(jpeg, collate):
    cpu, deferred = pipelines(3)
    a, b = [], []
    for seed in range(6):  # the seeds ResumableSampler gives each sample
        with seeded_generators(seed):
            a.append(cpu(dict(img_path=jpeg, gt_label=0)))
        with seeded_generators(seed):
            b.append(deferred(dict(img_path=jpeg, gt_label=0)))
    assert b[0]['data_samples'].view_distortion.shape == (3, 7)
    views_a = preprocessor()(collate(a))['inputs']
    views_b = preprocessor()(collate(b))['inputs']
    assert len(views_b) == 3
    for va, vb in zip(views_a, views_b):
        assert torch.equal(va, vb)
    assert not torch.equal(views_b[0], views_b[1])  # each view its own distortion


def draws(pipeline, count, seed0=0):
    rows = []
    img = np.zeros((40, 40, 3), np.uint8)
    for seed in range(seed0, seed0 + count):
        with seeded_generators(seed):
            rows.append(pipeline(dict(img=img, img_shape=(40, 40), ori_shape=(40, 40))))
    return torch.stack([r['view_distortion'] for r in rows]).flatten(0, 1)  # (count * V, 7)


def ks_distance(x, cdf):
    x = np.sort(np.asarray(x))
    n = len(x)
    f = cdf(x)
    return max(np.max(np.arange(1, n + 1) / n - f), np.max(f - np.arange(n) / n))


def ks_two_sample(a, b):
    both = np.concatenate([a, b])
    cdf_a = np.searchsorted(np.sort(a), both, 'right') / len(a)
    cdf_b = np.searchsorted(np.sort(b), both, 'right') / len(b)
    return np.abs(cdf_a - cdf_b).max()


def test_parameters_have_the_cpu_transforms_ranges_and_distributions():
    """2,000 samples x 2 views, fixed seeds: ColorJitter(0.4)'s U(0.6, 1.4) factors and uniform
    order, RandomFlip(0.5)'s coin; and a two-sample test against the CPU ColorJitter's draws."""
    deferred = TRANSFORMS.build(
        dict(type='DeferredMultiView', num_views=2, transforms=[DISTORTION[1:]])
    )
    rows = draws(deferred, 2000).numpy()
    n = len(rows)
    factors = rows[:, FACTORS]
    assert factors.min() >= 0.6 and factors.max() <= 1.4
    critical = 1.95 / np.sqrt(n)  # Kolmogorov-Smirnov at alpha = 0.001
    for column in factors.T:
        assert ks_distance(column, lambda x: (x - 0.6) / 0.8) < critical
    flips = rows[:, FLIP]
    assert set(np.unique(flips)) == {0.0, 1.0}
    assert abs(flips.mean() - 0.5) < 3.3 * 0.5 / np.sqrt(n)
    orders, counts = np.unique(rows[:, ORDER], axis=0, return_counts=True)
    assert len(orders) == 6 and sorted(map(sorted, orders.tolist())) == [[0, 1, 2]] * 6
    chi2 = ((counts - n / 6) ** 2 / (n / 6)).sum()
    assert chi2 < 20.5  # 5 degrees of freedom, alpha = 0.001
    # The CPU ColorJitter's own factors, drawn under other seeds: the same distribution.
    cpu = ColorJitter(brightness=0.4, contrast=0.4, saturation=0.4)
    cpu_factors = []
    for seed in range(10_000, 10_000 + n):
        np.random.seed(seed)
        cpu_factors.append(cpu._rand_params()[1:4])
    cpu_factors = np.asarray(cpu_factors)
    for ours, theirs in zip(factors.T, cpu_factors.T):
        assert ks_two_sample(ours, theirs) < 1.95 * np.sqrt(2 / n)


def test_the_same_seed_draws_the_same_views_and_parameters(jpeg):
    _, deferred = pipelines(2)
    with seeded_generators(7):
        first = deferred(dict(img_path=jpeg, gt_label=0))
    with seeded_generators(7):
        again = deferred(dict(img_path=jpeg, gt_label=0))
    with seeded_generators(8):
        other = deferred(dict(img_path=jpeg, gt_label=0))
    assert torch.equal(first['data_samples'].view_distortion, again['data_samples'].view_distortion)
    assert all(torch.equal(a, b) for a, b in zip(first['inputs'], again['inputs']))
    assert not torch.equal(
        first['data_samples'].view_distortion, other['data_samples'].view_distortion
    )


@pytest.mark.parametrize(
    'transforms,match',
    [
        ([dict(type='ColorJitter', brightness=0.4, hue=0.1)], r'hue=.*brightness, contrast'),
        ([dict(type='ColorJitter', brightness=0.4, backend='cv2')], "backend='cv2'"),
        ([dict(type='RandomFlip', prob=0.5)] * 2, r'2 trailing RandomFlip.*at most one'),
    ],
)
def test_what_the_device_cannot_reproduce_is_refused_by_name(transforms, match):
    with pytest.raises(ValueError, match=r'DeferredMultiView.transforms\[0\].*' + match):
        TRANSFORMS.build(
            dict(type='DeferredMultiView', num_views=2, transforms=[copy.deepcopy(transforms)])
        )
