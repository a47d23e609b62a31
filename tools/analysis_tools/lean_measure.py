"""Measure KDCL's lean mode and its device-side distortion (docs/benchmark.md, "Lean mode and
distortion on the device").

Run from the repository root (1 torch thread by default; ``--help`` lists the options):

    python -m tools.analysis_tools.lean_measure --part memory time loader \\
        --skimage-wheel /tmp/scikit_image-*.whl --out-dir work_dirs/lean

* ``memory``: per arm, the peak bytes of tensors saved for backward (saved-tensor hooks) and
  the peak bytes of tensors allocated during the step (:class:`AllocatedBytes`, the CPU
  analogue of CUDA's ``max_memory_allocated``), for one forward + backward of the default mode,
  the lean mode, each student alone, and a separate no-grad + forward/backward pass per student
  (the alternative to checkpointing). Deterministic.
* ``time``: full ``train_step`` (preprocess, forward, backward, SGD step) of the default and
  lean modes, interleaved in one run; medians.
* ``loader``: the train pipelines' ms/image on real photos as 500x375 JPEGs, interleaved
  rounds, medians; the device-side part (the preprocessor's flips and colour) timed apart.
"""

import argparse
import copy
import glob
import os
import os.path as osp
import statistics
import time
import weakref
import zipfile
from contextlib import contextmanager
from typing import Callable, Dict, List, Sequence

import numpy as np
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_flatten

MIB = 2**20
R50_MBV2 = 'configs/kdcl/r50_mbv2_imagenet.py'
R50_R18_MBV2 = 'configs/kdcl/r50_r18_mbv2_imagenet.py'
SOLO_DATA = 'configs/_base_/datasets/imagenet_bs32_solo.py'
#: Colour photographs in scikit-image's wheel (besides matplotlib's grace_hopper.jpg).
SKIMAGE_PHOTOS = (
    'astronaut.png',
    'chelsea.png',
    'coffee.png',
    'hubble_deep_field.jpg',
    'ihc.png',
    'motorcycle_left.png',
    'motorcycle_right.png',
    'retina.jpg',
    'rocket.jpg',
)


# ---- memory ----


class SavedTensorBytes:
    """Peak bytes of the tensors autograd holds for backward, each storage counted once
    (views and reuses of one storage share it), while the context is active."""

    def __init__(self):
        self.current = self.peak = 0
        self._refs: Dict[int, list] = {}

    def _pack(self, tensor):
        storage = tensor.untyped_storage()
        key = storage.data_ptr()
        entry = self._refs.setdefault(key, [storage.nbytes(), 0])
        if entry[1] == 0:
            self.current += entry[0]
            self.peak = max(self.peak, self.current)
        entry[1] += 1
        return _SavedHandle(self, key, tensor)

    def _release(self, key: int) -> None:
        entry = self._refs[key]
        entry[1] -= 1
        if entry[1] == 0:
            self.current -= entry[0]
            del self._refs[key]

    @contextmanager
    def track(self):
        with torch.autograd.graph.saved_tensors_hooks(self._pack, lambda handle: handle.tensor):
            yield self


class _SavedHandle:
    """What autograd keeps instead of a saved tensor; freed with the graph node holding it."""

    def __init__(self, counter: SavedTensorBytes, key: int, tensor):
        self.counter, self.key, self.tensor = counter, key, tensor

    def __del__(self):
        self.counter._release(self.key)


class AllocatedBytes(TorchDispatchMode):
    """Peak bytes of the tensors created inside the context that are alive at once: every
    operator output that is not a view of, or written into, an existing tensor, each storage
    counted until it is freed (checkpointing's recomputed activations included, which
    saved-tensor hooks cannot see)."""

    def __init__(self):
        super().__init__()
        self.current = self.peak = 0
        self._alive: Dict[int, weakref.ref] = {}

    def _freed(self, key: int, nbytes: int) -> None:
        self.current -= nbytes
        self._alive.pop(key, None)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        if any(r.alias_info is not None for r in func._schema.returns):
            return out  # a view or an in-place/out= result: no new memory
        for tensor in tree_flatten(out)[0]:
            if not isinstance(tensor, torch.Tensor) or tensor.device.type == 'meta':
                continue
            storage = tensor.untyped_storage()
            key, nbytes = id(storage), storage.nbytes()
            if key in self._alive or not nbytes:
                continue
            self._alive[key] = weakref.ref(storage, lambda _, k=key, n=nbytes: self._freed(k, n))
            self.current += nbytes
            self.peak = max(self.peak, self.current)
        return out


def peak_bytes(fn: Callable[[], object]) -> dict:
    """``dict(saved=..., allocated=...)``: the two peaks (bytes) of one call of ``fn``."""
    saved, allocated = SavedTensorBytes(), AllocatedBytes()
    with saved.track(), allocated:
        fn()
    return dict(saved=saved.peak, allocated=allocated.peak)


@contextmanager
def lean(model, on: bool = True):
    previous, model.lean = model.lean, on
    try:
        yield model
    finally:
        model.lean = previous


def kdcl_backward(model, views, samples) -> None:
    """One forward + backward of ``model.loss``, as ``train_step`` runs it, minus the step."""
    losses = model.loss(views, samples)
    model.parse_losses(losses)[0].backward()


def per_student_passes(model, views, samples) -> None:
    """The alternative to checkpointing: a no-grad pass over every student for the soft target
    (random state captured, buffers restored), then forward + backward per student."""
    from kdcl_mm.models.helpers import hard_labels

    states, logits = [], []
    with torch.no_grad():
        for student, view in zip(model.students, views):
            states.append(torch.get_rng_state())
            buffers = [b.clone() for b in student.buffers()]
            logits.append(student(view))
            for buffer, before in zip(student.buffers(), buffers):
                buffer.copy_(before)  # BN statistics move once, in the pass with grad
    target = model.soft_target(logits, hard_labels(samples))
    end_state = torch.get_rng_state()
    for student, view, state in zip(model.students, views, states):
        torch.set_rng_state(state)
        z = student(view)
        loss = student.head._get_loss(z, samples)['loss'] + model.kd_loss(z, target)
        loss.backward()
    torch.set_rng_state(end_state)


def memory_arms(model, views, samples) -> Dict[str, dict]:
    """Peak saved and allocated bytes per arm. Every gradient is allocated (zero) before each
    arm, so that ``allocated`` is the activations and temporaries, not the gradients, which
    every mode holds alike (parameter-sized, reported by :func:`model_state_bytes`)."""
    model.train()

    def measured(fn):
        for p in model.parameters():
            p.grad = torch.zeros_like(p)
        result = peak_bytes(fn)
        model.zero_grad(set_to_none=True)
        return result

    arms = {}
    with lean(model, False):
        arms['default'] = measured(lambda: kdcl_backward(model, views, samples))
    with lean(model, True):
        arms['lean'] = measured(lambda: kdcl_backward(model, views, samples))
    with lean(model, False):
        arms['per-student passes'] = measured(lambda: per_student_passes(model, views, samples))
    for name, student, view in zip(model.student_names, model.students, views):

        def alone(student=student, view=view):
            student.loss(view, copy.deepcopy(samples))['loss'].backward()

        arms[f'{name} alone'] = measured(alone)
    return arms


def model_state_bytes(model) -> int:
    """Bytes of the parameters and their gradients (the same in every mode)."""
    return 2 * sum(p.numel() * p.element_size() for p in model.parameters())


def imagenet_model(config: str = R50_MBV2, seed: int = 0):
    """The recipe's KDCL model (random init), built in mmpretrain's scope."""
    from mmengine.config import Config
    from mmengine.registry import init_default_scope
    from mmpretrain.registry import MODELS

    import kdcl_mm  # noqa: F401

    init_default_scope('mmpretrain')
    cfg = Config.fromfile(config)
    model = cfg.model.to_dict()
    model.setdefault('data_preprocessor', cfg.get('data_preprocessor'))  # as the Runner does
    torch.manual_seed(seed)
    return MODELS.build(model)


def random_batch(num_views: int, batch: int, size: int, num_classes: int, seed: int = 0):
    from mmpretrain.structures import DataSample

    g = torch.Generator().manual_seed(seed)
    views = [torch.randn(batch, 3, size, size, generator=g) for _ in range(num_views)]
    samples = [DataSample().set_gt_label(i % num_classes) for i in range(batch)]
    return views, samples


# ---- step time ----


def step_times(build: Callable[[bool], object], data: dict, rounds: int) -> dict:
    """Seconds of one ``train_step`` (SGD, momentum 0.9) of two copies of one model, default and
    lean, alternating within each round (after one warm-up step each); medians and ratio."""
    from mmengine.optim import OptimWrapper

    arms = {}
    for name, on in (('default', False), ('lean', True)):
        model = build(on)
        optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=1e-3, momentum=0.9))
        arms[name] = (model, optim)
    times = {name: [] for name in arms}
    for r in range(rounds + 1):
        for name, (model, optim) in arms.items():
            start = time.perf_counter()
            model.train_step(copy.deepcopy(data), optim)
            if r:  # round 0 warms up
                times[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(t) for name, t in times.items()}
    ratios = [lean_s / default_s for lean_s, default_s in zip(times['lean'], times['default'])]
    return dict(
        median_s=medians,
        ratio_of_medians=medians['lean'] / medians['default'],
        median_paired_ratio=statistics.median(ratios),
        rounds=rounds,
    )


# ---- loader ----


def _cover_crop(img: np.ndarray, width: int, height: int) -> np.ndarray:
    import cv2

    scale = max(width / img.shape[1], height / img.shape[0])
    resized = cv2.resize(
        img,
        (round(img.shape[1] * scale), round(img.shape[0] * scale)),
        interpolation=cv2.INTER_AREA,
    )
    top = (resized.shape[0] - height) // 2
    left = (resized.shape[1] - width) // 2
    return resized[top : top + height, left : left + width]


def make_photo_jpegs(out_dir: str, skimage_wheel: str = None, size=(500, 375)) -> List[str]:
    """Real photos as ``size`` JPEGs (quality 90): matplotlib's grace_hopper.jpg, plus the
    colour photos in a scikit-image wheel if given (read as a zip, nothing installed)."""
    import cv2
    import matplotlib.cbook

    sources = {
        'grace_hopper': open(
            matplotlib.cbook.get_sample_data('grace_hopper.jpg', asfileobj=False), 'rb'
        ).read()
    }
    if skimage_wheel:
        with zipfile.ZipFile(skimage_wheel) as wheel:
            for name in SKIMAGE_PHOTOS:
                sources[osp.splitext(name)[0]] = wheel.read(f'skimage/data/{name}')
    os.makedirs(out_dir, exist_ok=True)
    paths = []
    for name, data in sources.items():
        img = cv2.imdecode(np.frombuffer(data, np.uint8), cv2.IMREAD_COLOR)
        path = osp.join(out_dir, f'{name}.jpg')
        cv2.imwrite(path, _cover_crop(img, *size), [cv2.IMWRITE_JPEG_QUALITY, 90])
        paths.append(path)
    return paths


def train_pipeline(config: str) -> list:
    from mmengine.config import Config

    from kdcl_mm.datasets.dataset_cfg import innermost_dataset_cfg

    return innermost_dataset_cfg(Config.fromfile(config).train_dataloader.to_dict()['dataset'])[
        'pipeline'
    ]


def on_cpu(pipeline: Sequence[dict]) -> list:
    """The pipeline with DeferredMultiView replaced by mmpretrain's MultiView (all on the CPU)."""
    return [
        dict(t, type='MultiView') if t.get('type') == 'DeferredMultiView' else dict(t)
        for t in copy.deepcopy(list(pipeline))
    ]


def loader_times(pipelines: Dict[str, list], paths: Sequence[str], rounds: int) -> dict:
    """ms/image of each pipeline over ``paths``, each sample under its own seed as the
    resumable sampler fetches it; pipelines alternate within each round; medians."""
    from mmengine.dataset import Compose

    from kdcl_mm.engine.runtime.resumable_sampler import seeded_generators

    built = {name: Compose(p) for name, p in pipelines.items()}
    times = {name: [] for name in built}
    outputs = {}
    for r in range(rounds + 1):
        for name, pipeline in built.items():
            start = time.perf_counter()
            out = []
            for i, path in enumerate(paths):
                with seeded_generators(i):
                    out.append(pipeline(dict(img_path=path, gt_label=0)))
            if r:
                times[name].append((time.perf_counter() - start) * 1e3 / len(paths))
            outputs[name] = out
    return {name: statistics.median(t) for name, t in times.items()}, outputs


def device_distortion_times(samples: Sequence[dict], rounds: int, device: str = 'cpu') -> float:
    """ms/image of the preprocessor's flips and colour (``apply_view_distortion``) on
    ``samples`` (packed DeferredMultiView outputs), batched, on ``device``."""
    from mmengine.dataset import default_collate

    from kdcl_mm.datasets.transforms import VIEW_DISTORTION_KEY, apply_view_distortion

    batch = default_collate(list(samples))
    views = [v.to(device) for v in batch['inputs']]
    rows = torch.stack([s.get(VIEW_DISTORTION_KEY) for s in batch['data_samples']])
    times = []
    for r in range(rounds + 1):
        start = time.perf_counter()
        for v, view in enumerate(views):
            apply_view_distortion(view, rows[:, v])
        if device.startswith('cuda'):
            torch.cuda.synchronize(device)
        if r:
            times.append((time.perf_counter() - start) * 1e3 / len(samples))
    return statistics.median(times)


def loader_report(paths: Sequence[str], rounds: int) -> dict:
    pipelines = {
        'solo ResNet-50': train_pipeline(SOLO_DATA),
        'KDCL 2 views, flip+colour on CPU': on_cpu(train_pipeline(R50_MBV2)),
        'KDCL 2 views': train_pipeline(R50_MBV2),
        'KDCL 3 views, flip+colour on CPU': on_cpu(train_pipeline(R50_R18_MBV2)),
        'KDCL 3 views': train_pipeline(R50_R18_MBV2),
    }
    ms, outputs = loader_times(pipelines, paths, rounds)
    solo = ms['solo ResNet-50']
    report = {name: dict(ms_per_image=value, x_solo=value / solo) for name, value in ms.items()}
    for name in ('KDCL 2 views', 'KDCL 3 views'):
        report[name]['device_ms_per_image_on_cpu'] = device_distortion_times(outputs[name], rounds)
    return report


# ---- report ----


def _mib(value: int) -> float:
    return round(value / MIB, 1)


def markdown(report: dict) -> str:
    from tools.common.report import md_table

    lines = [f'Machine: {report["machine"]}', '']
    if 'memory' in report:
        for config, arms in report['memory'].items():
            alone = {k: v for k, v in arms.items() if k.endswith(' alone')}
            largest = {key: max(v[key] for v in alone.values()) for key in ('saved', 'allocated')}

            def cells(v, key):
                if key not in v:
                    return ['', '']
                return [_mib(v[key]), f'{v[key] / largest[key]:.2f}']

            lines += [f'Memory, {config}, batch {report["batch"]}, {report["size"]}²:', '']
            rows = [[name, *cells(v, 'saved'), *cells(v, 'allocated')] for name, v in arms.items()]
            header = ['arm', 'saved MiB', '× largest alone', 'allocated MiB', '× largest alone']
            lines += md_table(header, rows, 'lrrrr') + ['']
    if 'time' in report:
        t = report['time']
        lines += [
            f'train_step, {t["config"]}, batch {report["batch"]}, {report["size"]}², '
            f'{t["rounds"]} interleaved rounds: default {t["median_s"]["default"]:.2f} s, '
            f'lean {t["median_s"]["lean"]:.2f} s, ratio of medians '
            f'{t["ratio_of_medians"]:.3f}, median per-round ratio {t["median_paired_ratio"]:.3f}',
            '',
        ]
    if 'loader' in report:
        rows = [
            [
                name,
                f'{v["ms_per_image"]:.2f}',
                f'{v["x_solo"]:.2f}',
                f'{v["device_ms_per_image_on_cpu"]:.2f}'
                if 'device_ms_per_image_on_cpu' in v
                else '',
            ]
            for name, v in report['loader'].items()
        ]
        header = ['pipeline', 'ms/image', '× solo', 'device part on CPU, ms/image']
        lines += md_table(header, rows, 'lrrr') + ['']
    return '\n'.join(lines) + '\n'


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--part', nargs='+', default=['memory', 'time', 'loader'])
    parser.add_argument('--batch-size', type=int, default=4)
    parser.add_argument('--size', type=int, default=224)
    parser.add_argument('--time-rounds', type=int, default=7)
    parser.add_argument('--loader-rounds', type=int, default=15)
    parser.add_argument('--threads', type=int, default=1)
    parser.add_argument('--photos', help='a folder of JPEGs (default: made from --skimage-wheel)')
    parser.add_argument('--skimage-wheel', help='scikit-image wheel whose photos to use')
    parser.add_argument('--out-dir', required=True)
    parser.add_argument('--overwrite', action='store_true')
    return parser.parse_args(argv)


def main(argv=None):
    from tools.common.machine import describe_machine
    from tools.common.report import check_out_dir, write_report

    args = parse_args(argv)
    names = ['lean_measure.json', 'lean_measure.md']
    check_out_dir(args.out_dir, names, args.overwrite)
    torch.set_num_threads(args.threads)
    machine = describe_machine(args.threads)
    report = dict(
        machine=f'{machine["cpu"]}, {machine["cores"]} cores, {args.threads} torch thread(s), '
        f'torch {machine["torch"]}',
        batch=args.batch_size,
        size=args.size,
    )
    if 'memory' in args.part:
        report['memory'] = {}
        for config in (R50_MBV2, R50_R18_MBV2):
            model = imagenet_model(config)
            views, samples = random_batch(
                len(model.students), args.batch_size, args.size, model.num_classes
            )
            arms = memory_arms(model, views, samples)
            arms['parameters + gradients'] = dict(allocated=model_state_bytes(model))
            report['memory'][osp.basename(config)] = arms
            print(
                markdown(
                    dict(
                        report,
                        memory={osp.basename(config): report['memory'][osp.basename(config)]},
                    )
                ),
                flush=True,
            )
    if 'time' in args.part:
        views, samples = random_batch(2, args.batch_size, args.size, 1000)
        data = dict(inputs=[(v * 50 + 120).clamp(0, 255) for v in views], data_samples=samples)

        def build(on):
            model = imagenet_model(R50_MBV2)
            model.lean = on
            return model

        report['time'] = dict(
            step_times(build, data, args.time_rounds), config=osp.basename(R50_MBV2)
        )
        print(markdown(dict(report, memory={}, loader={})), flush=True)
    if 'loader' in args.part:
        photos = args.photos or osp.join(args.out_dir, 'photos')
        paths = sorted(glob.glob(osp.join(photos, '*.jpg')))
        if not paths:
            paths = make_photo_jpegs(photos, args.skimage_wheel)
        report['loader'] = loader_report(paths, args.loader_rounds)
        report['photos'] = [osp.basename(p) for p in paths]
    text = markdown(report)
    print(text)
    write_report(args.out_dir, names, report, text, overwrite=args.overwrite)


if __name__ == '__main__':
    main()
