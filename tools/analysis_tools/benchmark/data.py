"""The batches measured: the config's datasets and dataloaders, or random images for machines
without the config's dataset (:class:`SyntheticImages`, :func:`synthetic_batch`); and, for the
loader's cost per view, real photos as JPEGs (:func:`make_photo_jpegs`) through the train
pipeline at each view count (:func:`view_pipelines`)."""

import copy
import os
import os.path as osp
import zipfile
from typing import Dict, List, Sequence, Tuple

import numpy as np
import torch
from mmengine.config import Config
from mmengine.runner import Runner
from mmpretrain.datasets import BaseDataset
from mmpretrain.structures import DataSample

from kdcl_mm.datasets.dataset_cfg import innermost_dataset_cfg
from kdcl_mm.datasets.transforms import MULTI_VIEW_TYPES, VIEW_DISTORTION_KEY
from kdcl_mm.registry import DATASETS

from .settings import BenchmarkSettings


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


def distortion_rows(count: int, generator: torch.Generator) -> torch.Tensor:
    """(count, ROW_SIZE) float64 view-distortion rows as ``DeferredMultiView`` draws them for
    the recipes' ``RandomFlip(prob=0.5)`` + ``ColorJitter(0.4, 0.4, 0.4)``: a horizontal flip
    half of the time, the three colour steps in a random order, factors in [0.6, 1.4]."""
    from kdcl_mm.datasets.transforms.view_distortion import FACTORS, FLIP, ORDER, ROW_SIZE

    rows = torch.zeros(count, ROW_SIZE, dtype=torch.float64)
    rows[:, FLIP] = torch.randint(0, 2, (count,), generator=generator).double()
    rows[:, ORDER] = torch.stack(
        [torch.randperm(3, generator=generator) for _ in range(count)]
    ).double()
    rows[:, FACTORS] = 0.6 + 0.8 * torch.rand(count, 3, generator=generator, dtype=torch.float64)
    return rows


def defers_distortion(cfg: Config) -> bool:
    """Whether the config's KDCL preprocessor applies the views' distortion (deferred by
    ``DeferredMultiView``), so that its batches must carry their rows."""
    merged = dict(cfg.get('data_preprocessor') or {}, **(cfg.model.get('data_preprocessor') or {}))
    return bool(merged.get('deferred_distortion'))


def synthetic_batch(
    batch_size: int,
    image_size: int,
    num_views: int,
    num_classes: int,
    seed: int = 0,
    deferred_distortion: bool = False,
) -> dict:
    """A collated multi-view batch as a dataloader gives it after ``MultiView`` +
    ``PackInputs``: ``inputs`` is a list of ``num_views`` uint8 (B, 3, H, W) tensors on
    the CPU (the model's data preprocessor moves and normalises them), one label each.
    ``deferred_distortion``: as after ``DeferredMultiView`` instead, each sample carrying its
    views' flip and colour jitter (:func:`distortion_rows`) for the preprocessor to apply."""
    gen = torch.Generator().manual_seed(seed)
    views = [
        torch.randint(
            0, 256, (batch_size, 3, image_size, image_size), generator=gen, dtype=torch.uint8
        )
        for _ in range(num_views)
    ]
    labels = torch.randint(0, num_classes, (batch_size,), generator=gen)
    samples = [DataSample().set_gt_label(int(label)) for label in labels]
    if deferred_distortion:
        rows = distortion_rows(batch_size * num_views, gen).view(batch_size, num_views, -1)
        for sample, sample_rows in zip(samples, rows):
            sample.set_field(sample_rows, VIEW_DISTORTION_KEY)
    return dict(inputs=views, data_samples=samples)


def on_the_cpu(pipeline: Sequence[dict]) -> List[dict]:
    """The pipeline with its (Deferred)MultiView as a ``MultiView``: every view's distortion in
    the loader, and nothing for ``PackInputs`` to carry to the device."""
    out = []
    for t in copy.deepcopy(list(pipeline)):
        if isinstance(t, dict) and t.get('type') in MULTI_VIEW_TYPES:
            t['type'] = 'MultiView'
        elif isinstance(t, dict) and t.get('type') == 'PackInputs':
            keys = [k for k in t.pop('algorithm_keys', ()) if k != VIEW_DISTORTION_KEY]
            if keys:
                t['algorithm_keys'] = keys
        out.append(t)
    return out


def single_view_pipeline(pipeline: Sequence[dict]) -> List[dict]:
    """The pipeline with its (Deferred)MultiView replaced by the transforms of one view."""
    out = []
    for t in on_the_cpu(pipeline):
        if isinstance(t, dict) and t.get('type') == 'MultiView':
            transforms = t['transforms']
            out.extend(
                copy.deepcopy(
                    transforms[0] if isinstance(transforms[0], (list, tuple)) else transforms
                )
            )
        else:
            out.append(copy.deepcopy(t))
    return out


def without_loading(pipeline: Sequence[dict]) -> List[dict]:
    """The pipeline without ``LoadImageFromFile`` (synthetic images are already arrays)."""
    return [copy.deepcopy(t) for t in pipeline if t.get('type') != 'LoadImageFromFile']


class BenchmarkData:
    """The config's datasets (or synthetic stand-ins) and dataloader settings."""

    def __init__(self, cfg: Config, settings: BenchmarkSettings, num_classes: int):
        train = cfg.train_dataloader.to_dict()
        self.batch_size = settings.batch_size or train['batch_size']
        self.num_workers = (
            train.get('num_workers', 0) if settings.num_workers is None else settings.num_workers
        )
        dataset = innermost_dataset_cfg(train['dataset'])
        self.train_pipeline = dataset['pipeline']
        self.test_pipeline = innermost_dataset_cfg(cfg.val_dataloader.to_dict()['dataset'])[
            'pipeline'
        ]
        self.heldout_batch_size = settings.heldout_batch_size or cfg.val_dataloader.batch_size
        self.seed = settings.seed
        if settings.synthetic_image_shape is None:
            self.source = {k: v for k, v in dataset.items() if k != 'pipeline'}
        else:
            self.train_pipeline = without_loading(self.train_pipeline)
            self.test_pipeline = without_loading(self.test_pipeline)
            self.source = dict(
                type=SyntheticImages,
                num_samples=20 * self.batch_size,
                image_shape=tuple(settings.synthetic_image_shape),
                num_classes=num_classes,
                seed=settings.seed,
            )

    def dataset(self, pipeline):
        cfg = dict(self.source, pipeline=pipeline)
        if isinstance(cfg['type'], type):
            return cfg.pop('type')(**cfg)
        return DATASETS.build(cfg)

    def loader(self, dataset, batch_size=None, shuffle=True):
        return Runner.build_dataloader(
            dict(
                batch_size=batch_size or self.batch_size,
                num_workers=self.num_workers,
                dataset=dataset,
                sampler=dict(type='DefaultSampler', shuffle=shuffle),
            ),
            seed=self.seed,
        )

    def first_batches(self, dataset, count: int) -> List[dict]:
        batches = []
        for batch in self.loader(dataset):
            batches.append(batch)
            if len(batches) == count:
                return batches
        return batches


# ---------------------------------------------------------------------------- photos
#: Colour photographs in scikit-image's wheel (besides matplotlib's grace_hopper.jpg).
SKIMAGE_PHOTOS = (
    'astronaut.png chelsea.png coffee.png hubble_deep_field.jpg ihc.png motorcycle_left.png '
    'motorcycle_right.png retina.jpg rocket.jpg'
).split()


def make_photo_jpegs(out_dir: str, skimage_wheel: str = None, size=(500, 375)) -> List[str]:
    """Real photos as ``size`` JPEGs (quality 90, scaled to cover and centre-cropped):
    matplotlib's grace_hopper.jpg, plus the colour photos in a scikit-image wheel if given
    (read as a zip, nothing installed)."""
    import cv2
    import matplotlib.cbook

    with open(matplotlib.cbook.get_sample_data('grace_hopper.jpg', asfileobj=False), 'rb') as f:
        sources = {'grace_hopper': f.read()}
    if skimage_wheel:
        with zipfile.ZipFile(skimage_wheel) as wheel:
            for name in SKIMAGE_PHOTOS:
                sources[osp.splitext(name)[0]] = wheel.read(f'skimage/data/{name}')
    os.makedirs(out_dir, exist_ok=True)
    width, height = size
    paths = []
    for name, data in sources.items():
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        scale = max(width / img.shape[1], height / img.shape[0])
        shape = (round(img.shape[1] * scale), round(img.shape[0] * scale))
        img = cv2.resize(img, shape, interpolation=cv2.INTER_AREA)
        top, left = (img.shape[0] - height) // 2, (img.shape[1] - width) // 2
        path = osp.join(out_dir, f'{name}.jpg')
        img = img[top : top + height, left : left + width]
        cv2.imwrite(path, img, [cv2.IMWRITE_JPEG_QUALITY, 90])
        paths.append(path)
    return paths


def view_pipelines(pipeline: Sequence[dict], views: Sequence[int]) -> Dict[str, List[dict]]:
    """The loader's pipelines per view count, from a train pipeline with one ``MultiView``
    (or ``DeferredMultiView``): ``'1 view'`` (a student alone, :func:`single_view_pipeline`),
    then per count n ``'n views, CPU'`` (``MultiView``: every view's flip and colour in the
    loader) and ``'n views, device'`` (``DeferredMultiView``: those left to the device)."""
    cpu = on_the_cpu(pipeline)
    out = {'1 view': single_view_pipeline(cpu)}
    for n in views:
        for where, kind in (('CPU', 'MultiView'), ('device', 'DeferredMultiView')):
            steps = []
            for t in copy.deepcopy(cpu):
                if t['type'] == 'MultiView':
                    t.update(type=kind, num_views=n)
                elif t['type'] == 'PackInputs' and kind == 'DeferredMultiView':
                    t['algorithm_keys'] = [*t.get('algorithm_keys', ()), VIEW_DISTORTION_KEY]
                steps.append(t)
            out[f'{n} views, {where}'] = steps
    return out
