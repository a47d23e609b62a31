"""MNISTCocoSegDataset reads the generated MNIST-COCO folder through mmseg."""

import os.path as osp

import mmcv
import numpy as np
from mmcv.transforms import LoadImageFromFile

import kdcl_mm  # noqa: F401
from kdcl_mm.datasets.mnist_coco_seg import MNISTCocoSegDataset


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
