"""A DefaultSampler that can start mid-epoch and fixes every sample's augmentation seed.

Two properties make a resumed run load exactly what an uninterrupted one loads:

* **skip**: after a mid-epoch resume, :class:`~kdcl_mm.engine.ResumableEpochBasedTrainLoop`
  asks the sampler to start at the first sample not yet trained on, so the batches already
  seen are neither loaded nor trained on again;
* **per-sample seeds**: every index it yields carries a seed derived from (sampler seed, epoch,
  rank, dataset index). The dataset's batch fetch (``__getitems__``, which torch's DataLoader
  calls in the main process and in workers alike) draws each sample under python ``random``,
  numpy and torch generators seeded from it, then puts the caller's generator states back.
  A sample's augmentation is therefore the same whichever worker loads it, however many
  workers there are, whether workers are persistent, and whether the epoch was interrupted
  (for the same number of processes: each rank draws its own); and data loading in the main
  process (``num_workers=0``) does not advance the global generators that the model's own
  randomness (dropout, batch mixes) draws from.
"""

import random
from contextlib import contextmanager
from typing import Iterator, Optional, Sized

import numpy as np
import torch
from mmengine.dataset import DefaultSampler
from mmengine.registry import DATA_SAMPLERS

from .data_faults import SampleFetch


class SeededIndex(int):
    """A dataset index that carries the seed its sample is drawn with."""

    def __new__(cls, index: int, seed: int) -> 'SeededIndex':
        obj = super().__new__(cls, index)
        obj.seed = seed
        return obj

    def __reduce__(self):  # to DataLoader workers through their index queues
        return SeededIndex, (int(self), self.seed)


def sample_seed(seed: int, epoch: int, rank: int, index: int) -> int:
    """A 64-bit seed for one sample of one epoch on one rank, whatever worker loads it."""
    words = np.random.SeedSequence([seed % 2**64, epoch, rank, index]).generate_state(2, np.uint32)
    return int(words[0]) << 32 | int(words[1])


@contextmanager
def seeded_generators(seed: int):
    """Seed python ``random``, numpy and torch (CPU) for a block, then restore their states."""
    saved = random.getstate(), np.random.get_state(), torch.random.default_generator.get_state()
    random.seed(seed)
    np.random.seed(seed & 0xFFFFFFFF)  # numpy's legacy seeding takes 32 bits
    torch.random.default_generator.manual_seed(seed)
    try:
        yield
    finally:
        random.setstate(saved[0])
        np.random.set_state(saved[1])
        torch.random.default_generator.set_state(saved[2])


class SeededFetch(SampleFetch):
    """``dataset.__getitems__``: load each index of a batch under its own seed.

    torch's fetcher looks ``__getitems__`` up on the dataset instance, so the sampler installs
    this on the very dataset object the DataLoader reads from (and pickles to its workers).
    A sample that fails to load is named (:class:`~kdcl_mm.engine.runtime.data_faults.SampleFetch`).
    """

    def load(self, index):
        seed = getattr(index, 'seed', None)
        if seed is None:
            return self.dataset[index]
        with seeded_generators(seed):
            return self.dataset[int(index)]


@DATA_SAMPLERS.register_module()
class ResumableSampler(DefaultSampler):
    """mmengine's DefaultSampler (same order, same per-rank split) plus skip and sample seeds.

    Args:
        dataset, shuffle, seed, round_up: as DefaultSampler.
        seed_samples: draw every sample under its own seed (see the module doc). Without it,
            augmentations come from whatever state the loading process's generators are in.
    """

    def __init__(
        self,
        dataset: Sized,
        shuffle: bool = True,
        seed: Optional[int] = None,
        round_up: bool = True,
        seed_samples: bool = True,
    ) -> None:
        super().__init__(dataset, shuffle=shuffle, seed=seed, round_up=round_up)
        self.seed_samples = seed_samples
        self._skip = 0
        if seed_samples:
            if getattr(type(dataset), '__getitems__', None) is not None:
                raise ValueError(
                    f'ResumableSampler(seed_samples=True) cannot seed {type(dataset).__name__}, '
                    'which loads batches itself (__getitems__); set '
                    'train_dataloader.sampler.seed_samples=False (resume is then not exact).'
                )
            dataset.__getitems__ = SeededFetch(dataset)

    def skip_next(self, num_samples: int) -> None:
        """Start the next iteration at this rank's ``num_samples``-th index (mid-epoch resume)."""
        if num_samples < 0:
            raise ValueError(f'cannot skip {num_samples} samples')
        self._skip = num_samples

    def __iter__(self) -> Iterator[int]:
        indices = list(super().__iter__())[self._skip :]
        self._skip = 0  # only the first epoch after a resume starts late
        if not self.seed_samples:
            return iter(indices)
        return (SeededIndex(i, sample_seed(self.seed, self.epoch, self.rank, i)) for i in indices)
