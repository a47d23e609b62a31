"""What the benchmark measures: :class:`BenchmarkSettings` and its presets, for both modes.

* ``overhead`` (``benchmark_kdcl``): KDCL per generator against its students trained alone,
  the data pipelines and General's estimate (``small`` and ``imagenet`` presets); the lean
  mode's step time and activation bytes, and the loader's cost per view on real photos;
* ``gpu_check`` (``gpu_check``, docs/benchmark.md "GPU check"): one generator on one synthetic
  batch on the device, for each precision with and without channels_last.

Nothing here imports OpenMMLab or kdcl_mm at import time: the GPU check's command line answers
``--help`` and "no CUDA" before the node has its OpenMMLab wheels.
"""

import os.path as osp
from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple

#: The repository's configs/ (the tools run from a checkout, see docs/benchmark.md).
CONFIG_DIR = osp.join(
    osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))), 'configs'
)
#: GPU-check precision -> AmpOptimWrapper dtype (None: fp32 with the config's OptimWrapper).
PRECISIONS = {'fp32': None, 'fp16': 'float16', 'bf16': 'bfloat16'}
MODES = ('overhead', 'gpu_check')
#: The loader's pipelines per view count come from this config (docs/benchmark.md, "Lean mode
#: and distortion on the device"), whatever the config measured.
LOADER_CONFIG = osp.join(CONFIG_DIR, 'kdcl', 'r50_mbv2_imagenet.py')
#: Fields only the GPU check reads; the overhead report's settings leave them out.
GPU_CHECK_FIELDS = ('mode', 'image_size', 'precisions', 'arms', 'batch_sizes')


def generator_names() -> Tuple[str, ...]:
    """Every soft-target generator, in the order of kdcl_mm.models.soft_targets.GENERATORS."""
    from kdcl_mm.models.soft_targets import GENERATORS

    return tuple(GENERATORS)


@dataclass
class BenchmarkSettings:
    """What to measure and how often.

    Args:
        config: a KDCL training config; its students, data preprocessor, train and
            val dataloaders and optimiser are measured.
        mode: ``'overhead'`` or ``'gpu_check'`` (see the module docstring).
        generators: short names of kdcl_mm.models.soft_targets.GENERATORS (empty: all).
        batch_size / num_workers: override the config's train dataloader (None keeps it).
        synthetic_image_shape: (H, W) of random uint8 images that replace the config's
            dataset (no decoding); None uses the config's dataset.
        image_size: the side of the GPU check's synthetic batch (gpu_check mode).
        precisions: the GPU check's keys of :data:`PRECISIONS` (gpu_check mode).
        rounds, steps_per_round, warmup_steps: the round-robin schedule per arm.
        pipeline_batches: batches timed per round and pipeline (at least 4 per worker,
            so that batches the workers prefetched at start-up do not dominate).
        heldout_ratio / heldout_batch_size: the General held-out split and its loader
            batch size (None: the val dataloader's).
        amp: None, 'float16' or 'bfloat16' (mmengine ``AmpOptimWrapper``, CUDA only).
        channels_last: convert every model as ``ChannelsLastHook`` does.
        threads: torch intra-op threads (None: torch's default). On a CPU shared with
            other jobs, more threads than free cores make every op wait for a
            descheduled thread; 1 thread is then far less noisy.
        ratio_targets: generator -> the largest KDCL / Σ(students alone) ratio that
            counts as met; the report's Targets section lists one row per entry.
            Nothing is targeted unless asked (``--ratio-target``).
        general_fraction_target: the largest share of an epoch General's weight
            estimation may take (``--general-fraction-target``), or None.
        lean: also measure KDCL's lean mode (``model.lean=True``) with the first generator:
            its step beside the default one, and the activation bytes of both modes.
        iteration: also time the Runner's training iteration as shipped
            (:mod:`.iteration`: the recipe's hooks, ``train_step`` and the resumable loop's
            bookkeeping) for KDCL and each student alone, beside the bare ``train_step``.
        optimizer_options: set on ``optim_wrapper.optimizer`` (the GPU check's ``fused=True``).
        compile: ``torch.compile`` each arm's ``train_step``, as ``cfg.compile=True`` does.
        arms / batch_sizes: the GPU check's arms (:mod:`.gpu_arms`) and its batch sweep.
        loader_config / loader_views: the train pipeline whose loader cost per view count
            is measured on real photos (overhead mode), and the view counts besides one.
        photos / skimage_wheel: a folder of JPEGs for it, or a scikit-image wheel whose
            photos to write as 500x375 JPEGs (default: matplotlib's one photo).
    """

    config: str
    device: str = 'cpu'
    batch_size: Optional[int] = None
    num_workers: Optional[int] = None
    synthetic_image_shape: Optional[Tuple[int, int]] = None
    generators: Tuple[str, ...] = ()
    rounds: int = 15
    steps_per_round: int = 3
    warmup_steps: int = 3
    pipeline_batches: int = 4
    cached_batches: int = 4
    heldout_ratio: float = 0.05
    heldout_batch_size: Optional[int] = None
    amp: Optional[str] = None
    channels_last: bool = False
    threads: Optional[int] = None
    seed: int = 0
    preset: str = 'custom'
    quick: bool = False
    ratio_targets: Dict[str, float] = field(default_factory=dict)
    general_fraction_target: Optional[float] = None
    mode: str = 'overhead'
    image_size: Optional[int] = None
    precisions: Tuple[str, ...] = tuple(PRECISIONS)
    lean: bool = True
    iteration: bool = True
    optimizer_options: Dict[str, object] = field(default_factory=dict)
    compile: bool = False
    arms: Tuple[str, ...] = ('modes',)
    batch_sizes: Tuple[int, ...] = (64, 128, 256)
    loader_config: str = LOADER_CONFIG
    loader_views: Tuple[int, ...] = (2, 3)
    photos: Optional[str] = None
    skimage_wheel: Optional[str] = None

    def __post_init__(self):
        self.generators = tuple(self.generators) or generator_names()

    def check(self) -> None:
        import torch

        if not osp.isfile(self.config):
            raise FileNotFoundError(
                f'config {self.config!r} does not exist; pass a KDCL '
                'training config such as configs/kdcl/'
                'resnet18-w16_mbv2-w0.5_mnist.py'
            )
        unknown = [g for g in self.generators if g not in generator_names()]
        if unknown:
            raise ValueError(f'generators {unknown}: choose from {list(generator_names())}')
        for name in ('rounds', 'steps_per_round', 'pipeline_batches', 'cached_batches'):
            if getattr(self, name) < 1:
                raise ValueError(f'{name} must be >= 1, got {getattr(self, name)}')
        if self.threads is not None and self.threads < 1:
            raise ValueError(f'threads must be >= 1 or None, got {self.threads}')
        if self.warmup_steps < 0:
            raise ValueError(f'warmup_steps must be >= 0, got {self.warmup_steps}')
        if not 0 < self.heldout_ratio < 1:
            raise ValueError(f'heldout_ratio must be in (0, 1), got {self.heldout_ratio}')
        if self.amp not in (None, 'float16', 'bfloat16'):
            raise ValueError(f"amp must be None, 'float16' or 'bfloat16', got {self.amp!r}")
        if self.mode not in MODES:
            raise ValueError(f'mode must be one of {MODES}, got {self.mode!r}')
        if self.mode == 'gpu_check' and (
            len(self.generators) != 1 or not set(self.precisions) <= set(PRECISIONS)
        ):
            raise ValueError(
                f'the GPU check measures one generator (got {list(self.generators)}) in '
                f'precisions of {list(PRECISIONS)} (got {list(self.precisions)})'
            )
        if (self.amp or self.device.startswith('cuda')) and not torch.cuda.is_available():
            raise ValueError(
                f'device={self.device!r}, amp={self.amp!r} need CUDA, which this '
                'machine lacks: run with --device cpu and without --amp.'
            )
        stray = [g for g in self.ratio_targets if g not in self.generators]
        if stray:
            raise ValueError(
                f'ratio_targets name {stray}, which are not measured: generators '
                f'are {list(self.generators)}'
            )


PRESETS = {
    # One thread: on a CPU shared with other jobs, a second thread waits for a descheduled
    # peer on every op. 40 rounds: the per-round ratios spread by a few percent on a shared
    # machine, and the medians must resolve a 3% difference (docs/benchmark.md, Noise).
    'small': dict(
        config=osp.join(CONFIG_DIR, 'kdcl', 'resnet18-w16_mbv2-w0.5_mnist.py'),
        threads=1,
        rounds=40,
    ),
    'imagenet': dict(
        config=osp.join(CONFIG_DIR, 'kdcl', 'r50_mbv2_imagenet.py'),
        batch_size=64,
        synthetic_image_shape=(375, 500),
        amp='float16',
        heldout_batch_size=64,
        rounds=10,
        pipeline_batches=10,
    ),
    # 10 warm-up steps: cudnn autotuning and the fp16 loss scale settle before the timing.
    'gpu_check': dict(
        mode='gpu_check',
        config=osp.join(CONFIG_DIR, 'kdcl', 'r50_mbv2_imagenet.py'),
        device='cuda',
        generators=('MinLogit',),
        batch_size=64,
        image_size=224,
        warmup_steps=10,
        rounds=5,
        steps_per_round=4,
        batch_sizes=(64, 128, 256),
    ),
}
#: ``quick``: a run of seconds. The GPU check's (``--dry``) also runs on the CPU at 32x32:
#: batch 4, not 2, because at 32x32 the last feature maps are 1x1 and BatchNorm over 2 values
#: sent MobileNetV2 to NaN within 3 steps (docs/benchmark.md, Dry mode).
QUICK = dict(
    batch_size=4, rounds=2, steps_per_round=1, warmup_steps=1, pipeline_batches=2, cached_batches=2
)
DRY = dict(QUICK, device='cpu', image_size=32, batch_sizes=(4, 8))


def preset_settings(preset: str = 'small', quick: bool = False, **overrides) -> BenchmarkSettings:
    """``small``: the embedded MNIST recipe (64x64, batch 32) on 1 CPU thread; ``imagenet``:
    ResNet-50 + MobileNetV2 at 224x224, batch 64, fp16 AMP, synthetic images; ``gpu_check``:
    the GPU check's ResNet-50 + MobileNetV2 at 224x224, batch 64, MinLogit.
    ``quick`` shrinks any of them to a run of seconds (the GPU check's ``--dry``: on the CPU).
    Overrides that are None keep the preset's value."""
    if preset not in PRESETS:
        raise ValueError(f'preset must be one of {sorted(PRESETS)}, got {preset!r}')
    values = dict(PRESETS[preset], preset=preset, quick=quick)
    if quick:
        values.update(DRY if preset == 'gpu_check' else QUICK)
    values.update({k: v for k, v in overrides.items() if v is not None})
    return BenchmarkSettings(**values)
