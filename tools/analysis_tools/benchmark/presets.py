"""What the benchmark measures: :class:`BenchmarkSettings` and the small/imagenet presets."""

import os.path as osp
from dataclasses import dataclass, field
from typing import Dict, Optional, Tuple

import torch

#: Short name -> soft-target type, in the order the report lists them.
GENERATORS = {
    'Naive': 'NaiveSoftTarget',
    'Linear': 'LinearSoftTarget',
    'MinLogit': 'MinLogitSoftTarget',
    'General': 'GeneralSoftTarget',
    'Mean': 'MeanSoftTarget',
}

#: The repository's configs/ (the tools run from a checkout, see docs/benchmark.md).
CONFIG_DIR = osp.join(
    osp.dirname(osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))), 'configs'
)


@dataclass
class BenchmarkSettings:
    """What to measure and how often.

    Args:
        config: a KDCL training config; its students, data preprocessor, train and
            val dataloaders and optimiser are measured.
        batch_size / num_workers: override the config's train dataloader (None keeps it).
        synthetic_image_shape: (H, W) of random uint8 images that replace the config's
            dataset (no decoding); None uses the config's dataset.
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
    """

    config: str
    device: str = 'cpu'
    batch_size: Optional[int] = None
    num_workers: Optional[int] = None
    synthetic_image_shape: Optional[Tuple[int, int]] = None
    generators: Tuple[str, ...] = tuple(GENERATORS)
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

    def check(self) -> None:
        if not osp.isfile(self.config):
            raise FileNotFoundError(
                f'config {self.config!r} does not exist; pass a KDCL '
                'training config such as configs/kdcl/'
                'resnet18-w16_mbv2-w0.5_mnist.py'
            )
        unknown = [g for g in self.generators if g not in GENERATORS]
        if unknown or not self.generators:
            raise ValueError(f'generators {unknown or "(none)"}: choose from {list(GENERATORS)}')
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


def preset_settings(preset: str = 'small', quick: bool = False, **overrides) -> BenchmarkSettings:
    """``small``: the embedded MNIST recipe (64x64, batch 32) on 1 CPU thread; ``imagenet``:
    ResNet-50 + MobileNetV2 at 224x224, batch 64, fp16 AMP, synthetic images.
    ``quick`` shrinks either to a run of seconds (batch 4, 2 rounds of 1 step).
    Overrides that are None keep the preset's value."""
    presets = {
        # One thread: on a CPU shared with other jobs, a second thread waits for a
        # descheduled peer on every op (measured: steps 10x slower, IQR > median).
        # 40 rounds: the per-round ratios spread by about ±2% on a shared machine, so the
        # medians need that many to resolve a 3% difference (about 3 minutes).
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
    }
    if preset not in presets:
        raise ValueError(f'preset must be one of {sorted(presets)}, got {preset!r}')
    values = dict(presets[preset], preset=preset, quick=quick)
    if quick:
        values.update(
            batch_size=4,
            rounds=2,
            steps_per_round=1,
            warmup_steps=1,
            pipeline_batches=2,
            cached_batches=2,
        )
    values.update({k: v for k, v in overrides.items() if v is not None})
    return BenchmarkSettings(**values)
