"""tools/dataset_converters/mnist_coco.py: MNIST-COCO canvases, annotations, mmdet reading them."""

import json
import os.path as osp

import mmcv
import numpy as np
import pytest
from mmcv.transforms import LoadImageFromFile
from pycocotools.coco import COCO

import kdcl_mm  # noqa: F401
from kdcl_mm.datasets import mnist_splits
from kdcl_mm.datasets.mnist_digits import MNIST_CLASSES, load_mnist_digits
from tests.tiny import MNIST_COCO_SMALL as SMALL
from tools.dataset_converters.mnist_coco import generate_mnist_coco, render_canvas

POOL_OF_SPLIT = dict(train='train', val='downstream_val', test='downstream_test')


def coco_of(out_dir, split):
    return COCO(osp.join(out_dir, 'annotations', f'instances_{split}.json'))


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
