"""Random images for measurements on machines without the config's dataset."""

from typing import Tuple

import numpy as np
import torch
from mmpretrain.datasets import BaseDataset
from mmpretrain.structures import DataSample


class SyntheticImages(BaseDataset):
    """Random uint8 images (a small repeating pool) with random labels, for pipelines
    that would otherwise read a dataset this machine does not have."""

    def __init__(
        self,
        num_samples: int,
        image_shape: Tuple[int, int],
        num_classes: int,
        pool_size: int = 32,
        seed: int = 0,
        **kwargs,
    ):
        rng = np.random.default_rng(seed)
        self.pool = rng.integers(0, 256, (pool_size, *image_shape, 3), dtype=np.uint8)
        self.labels = rng.integers(0, num_classes, num_samples)
        super().__init__(ann_file='', **kwargs)

    def load_data_list(self):
        return [dict(gt_label=int(label)) for label in self.labels]

    def get_data_info(self, idx: int) -> dict:
        info = super().get_data_info(idx)
        img = self.pool[info['sample_idx'] % len(self.pool)]
        return dict(info, img=img, img_shape=img.shape[:2], ori_shape=img.shape[:2])


def synthetic_batch(
    batch_size: int, image_size: int, num_views: int, num_classes: int, seed: int = 0
) -> dict:
    """A collated multi-view batch as a dataloader gives it after ``MultiView`` +
    ``PackInputs``: ``inputs`` is a list of ``num_views`` uint8 (B, 3, H, W) tensors on
    the CPU (the model's data preprocessor moves and normalises them), one label each."""
    gen = torch.Generator().manual_seed(seed)
    views = [
        torch.randint(
            0, 256, (batch_size, 3, image_size, image_size), generator=gen, dtype=torch.uint8
        )
        for _ in range(num_views)
    ]
    labels = torch.randint(0, num_classes, (batch_size,), generator=gen)
    samples = [DataSample().set_gt_label(int(label)) for label in labels]
    return dict(inputs=views, data_samples=samples)
