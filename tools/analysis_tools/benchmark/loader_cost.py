"""Loader cost: what the multi-view training pipeline costs against one view.

:func:`pipeline_units` and :func:`pipeline_report` (the config's pipeline with one view per
student against one view, and whether it is the bottleneck); :func:`photo_units` and
:func:`loader_report` (ms/image per view count on real photos, the device-side distortion of
``DeferredMultiView`` timed apart)."""

import math
import os.path as osp
import time
from typing import Dict, List, Sequence

import torch

from .data import BenchmarkData
from .timing import Unit, ms_summary, timed


def pipeline_units(pipelines: Dict[str, object], num_batches: int, times: dict) -> List[Unit]:
    """One unit per pipeline (name -> dataloader): ``num_batches`` timed batches."""
    for name in pipelines:
        times.setdefault(name, [])
    return [
        (
            f'pipeline/{name}',
            lambda name=name: times[name].append(
                pipeline_batch_seconds(pipelines[name], num_batches)
            ),
        )
        for name in pipelines
    ]


def pipeline_batch_seconds(loader, num_batches: int) -> float:
    """Mean seconds per batch after the first (which pays for worker start-up)."""
    batches = iter(loader)
    next(batches)
    start = time.perf_counter()
    for _ in range(num_batches):
        next(batches)
    return (time.perf_counter() - start) / num_batches


def repeat_to(dataset_len: int, batch_size: int, num_batches: int) -> int:
    """How often to repeat a dataset so that it yields ``num_batches`` + 1 batches."""
    return max(1, math.ceil(batch_size * (num_batches + 1) / dataset_len))


def pipeline_report(
    times: dict,
    data: BenchmarkData,
    step_stats: dict,
    generators: Sequence[str],
    batches_per_round: int,
) -> dict:
    """Per pipeline: ms per batch and images/s; whether the multi-view one starves training."""
    out = dict(
        num_workers=data.num_workers,
        batch_size=data.batch_size,
        batches_per_round=batches_per_round,
    )
    for name, seconds in times.items():
        stats = ms_summary(seconds)
        out[name] = dict(stats, images_per_s=data.batch_size / (stats['median_ms'] / 1e3))
    out['multi_over_single'] = out['multi_view']['median_ms'] / out['single_view']['median_ms']
    fastest = min(step_stats[f'kdcl/{g}']['median_ms'] for g in generators)
    out['fastest_kdcl_step_ms'] = fastest
    # The time between batches the loader delivers when nothing else runs: with workers
    # they overlap training, and only a longer interval than a step starves it; without
    # workers the pipeline runs in series and adds its time to every step.
    out['pipeline_ms_per_step'] = out['multi_view']['median_ms']
    out['bottleneck'] = out['pipeline_ms_per_step'] >= fastest
    out['share_of_step'] = (
        out['multi_view']['median_ms'] / (out['multi_view']['median_ms'] + fastest)
        if data.num_workers == 0
        else None
    )
    return out


def photo_units(pipelines: Dict[str, list], paths: Sequence[str], times: dict) -> List[Unit]:
    """One unit per pipeline (name -> transform configs): every photo through it, each under
    its own per-sample seed as the resumable sampler fetches it; ``times[name]`` collects
    seconds per image. A pipeline that defers its flip and colour (its samples carry
    ``view_distortion``) gets a second unit, ``'<name>, on the device'``: the preprocessor's
    :func:`apply_view_distortion` on its collated views, batched, on the CPU (the loader's
    machine: on a GPU it only gets cheaper)."""
    from mmengine.dataset import Compose, default_collate

    from kdcl_mm.datasets.transforms import VIEW_DISTORTION_KEY, apply_view_distortion
    from kdcl_mm.engine.runtime.resumable_sampler import seeded_generators

    def load(pipeline):
        out = []
        for i, path in enumerate(paths):
            with seeded_generators(i):
                out.append(pipeline(dict(img_path=path, gt_label=0)))
        return out

    def timed_per_image(name, fn):
        times.setdefault(name, [])
        return (name, lambda: times[name].append(timed(fn, 'cpu') / len(paths)))

    units = []
    for name, cfg in pipelines.items():
        pipeline = Compose(cfg)
        batch = default_collate(load(pipeline))  # also the warm-up
        units.append(timed_per_image(name, lambda pipeline=pipeline: load(pipeline)))
        if batch['data_samples'][0].get(VIEW_DISTORTION_KEY) is None:
            continue
        rows = torch.stack([s.get(VIEW_DISTORTION_KEY) for s in batch['data_samples']])

        def distort(views=batch['inputs'], rows=rows):
            for v, view in enumerate(views):
                apply_view_distortion(view, rows[:, v])

        units.append(timed_per_image(f'{name}, on the device', distort))
    return units


def loader_report(times: Dict[str, List[float]], photos: Sequence[str]) -> dict:
    """Per pipeline: median ms per image and its ratio to ``'1 view'`` (the student alone);
    a deferred pipeline adds its device part and the two together."""
    median = {name: ms_summary(t)['median_ms'] for name, t in times.items()}
    solo = median['1 view']
    out = dict(photos=[osp.basename(p) for p in photos], pipelines={})
    for name, ms in median.items():
        if name.endswith(', on the device'):
            continue
        row = dict(ms_per_image=ms, x_solo=ms / solo)
        device = median.get(f'{name}, on the device')
        if device is not None:
            row.update(device_ms_per_image=device, with_device_x_solo=(ms + device) / solo)
        out['pipelines'][name] = row
    return out
