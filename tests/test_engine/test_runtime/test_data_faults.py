"""Data faults name the data: a truncated, zero-byte or unreadable image in an ImageNet-style
folder or a COCO json stops with its dataset index and path, raised in the main process;
opted in, such samples are skipped without moving the others."""

import json
import os
import os.path as osp
from types import SimpleNamespace

import pytest
import torch
from mmengine.dataset import pseudo_collate
from mmengine.logging import MMLogger
from torch.utils.data import DataLoader

from kdcl_mm.engine.runtime.data_faults import DataFaultHook, SampleFetch, SampleLoadError
from kdcl_mm.engine.runtime.resumable_sampler import ResumableSampler
from tests.fixtures.photos import image_folder, write_crops

CLEAN = {'cat': ['a0.jpg', 'a1.jpg', 'a2.jpg', 'a3.jpg'], 'dog': [f'b{i}.jpg' for i in range(6)]}
# The same layout with two broken files: CustomDataset sorts them to indices 5 and 8.
BROKEN = {
    'cat': CLEAN['cat'],
    'dog': ['b0.jpg', 'b1_truncated.jpg', 'b2.jpg', 'b3.jpg', 'b4_empty.jpg', 'b5.jpg'],
}
AUGMENTED = [
    dict(type='LoadImageFromFile'),
    dict(type='RandomResizedCrop', scale=24),
    dict(type='RandomFlip', prob=0.5),
    dict(type='PackInputs'),
]


def custom_dataset(root, pipeline=AUGMENTED):
    from mmpretrain.datasets import CustomDataset

    return CustomDataset(data_root=root, data_prefix='', pipeline=pipeline)


def load_epoch(dataset, num_workers, shuffle=True, skip=False):
    """[(dataset index, image tensor)] in the order a training epoch loads them."""
    sampler = ResumableSampler(dataset, shuffle=shuffle, seed=0)  # 5 and 8 in two batches
    dataset.__getitems__.skip(skip)
    loader = DataLoader(
        dataset,
        batch_size=2,
        sampler=sampler,
        num_workers=num_workers,
        collate_fn=pseudo_collate,
    )
    return [
        (sample.sample_idx, image)
        for batch in loader
        for image, sample in zip(batch['inputs'], batch['data_samples'])
    ]


@pytest.fixture(scope='module')
def folders(tmp_path_factory):
    root = tmp_path_factory.mktemp('photos')
    return image_folder(root / 'clean', CLEAN), image_folder(root / 'broken', BROKEN)


@pytest.mark.parametrize('num_workers', [0, 2])
def test_a_broken_image_stops_with_its_index_and_path_in_the_main_process(folders, num_workers):
    dataset = custom_dataset(folders[1])
    with pytest.raises(SampleLoadError) as raised:
        load_epoch(dataset, num_workers, shuffle=False)
    message = str(raised.value)
    path = osp.join(folders[1], 'dog', 'b1_truncated.jpg')
    assert message.startswith(f'cannot load training sample 5 of CustomDataset ({path}): ')
    assert 'failed to load image' in message  # mmcv's own reason
    assert 'default_hooks.data_faults.skip_bad_samples=True' in message
    # From a worker too: the error is the main process's, without the worker's traceback.
    assert 'Traceback' not in message and '\n' not in message
    assert ('(in DataLoader worker process' in message) == (num_workers > 0)


def test_a_zero_byte_file_is_named_too(folders):
    dataset = custom_dataset(folders[1])
    with pytest.raises(SampleLoadError, match=r'sample 8 of CustomDataset \(.*b4_empty.jpg\)'):
        SampleFetch(dataset)([7, 8])


def test_skipping_keeps_every_other_sample_its_order_and_its_augmentation(folders):
    clean = load_epoch(custom_dataset(folders[0]), num_workers=2)
    dataset = custom_dataset(folders[1])
    skipped = load_epoch(dataset, num_workers=2, skip=True)
    assert [i for i, _ in skipped] == [i for i, _ in clean if i not in (5, 8)]
    for (_, a), (_, b) in zip(skipped, [s for s in clean if s[0] not in (5, 8)]):
        assert torch.equal(a, b)  # the per-sample seeds did not move
    assert dataset.__getitems__.num_skipped == 2  # counted across the workers


def coco_json(root, images):
    """A COCO detection json of ``images`` (file names), one box each."""
    os.makedirs(osp.join(root, 'images'), exist_ok=True)
    write_crops([osp.join(root, 'images', f) for f in images], size=64)
    ann = dict(
        images=[dict(id=i, file_name=f, width=64, height=64) for i, f in enumerate(images)],
        annotations=[
            dict(id=i, image_id=i, category_id=1, bbox=[8, 8, 32, 32], area=1024, iscrowd=0)
            for i in range(len(images))
        ],
        categories=[dict(id=1, name='face')],
    )
    with open(osp.join(root, 'train.json'), 'w') as f:
        json.dump(ann, f)


def test_a_broken_image_of_a_coco_json_is_named_under_mmdets_own_sampler(tmp_path):
    from mmengine.registry import DefaultScope

    pytest.importorskip('mmdet')
    from mmdet.datasets import CocoDataset

    root = str(tmp_path)
    coco_json(root, ['0.jpg', '1.jpg', '2.jpg', '3.jpg'])
    open(osp.join(root, 'images', '2.jpg'), 'wb').close()  # zero bytes
    with DefaultScope.overwrite_default_scope('mmdet'):
        dataset = CocoDataset(
            data_root=root,
            ann_file='train.json',
            data_prefix=dict(img='images/'),
            metainfo=dict(classes=('face',)),
            pipeline=[
                dict(type='LoadImageFromFile'),
                dict(type='LoadAnnotations', with_bbox=True),
                dict(type='PackDetInputs'),
            ],
        )
        loader = DataLoader(dataset, batch_size=2, num_workers=2, collate_fn=pseudo_collate)
        runner = SimpleNamespace(
            train_dataloader=loader, train_loop=None, logger=MMLogger.get_instance('faults')
        )
        DataFaultHook().before_train(runner)  # what mmdet's runtime in kdcl_mm's configs has
        with pytest.raises(SampleLoadError) as raised:
            list(loader)
    path = osp.join(root, 'images', '2.jpg')
    assert str(raised.value).startswith(f'cannot load training sample 2 of CocoDataset ({path})')


def test_skipping_is_refused_for_a_dataset_that_loads_batches_itself():
    class Batched(torch.utils.data.Dataset):
        def __getitems__(self, indices):
            return list(indices)

    runner = SimpleNamespace(train_dataloader=DataLoader(Batched()), train_loop=None)
    with pytest.raises(ValueError, match='cannot skip samples of Batched'):
        DataFaultHook(skip_bad_samples=True).before_train(runner)
