"""General's weight estimation as a share of an epoch: :class:`GeneralEstimate` times
``estimate_general_weights`` (what ``GeneralWeightsHook`` runs before each epoch) on a held-out
split of the training data."""

import math
from typing import List

from kdcl_mm.datasets import HeldOutSplit
from kdcl_mm.engine.general_weights import estimate_general_weights

from .data import BenchmarkData
from .timing import Unit, ms_summary, timed


class GeneralEstimate:
    """``estimate_general_weights`` (what ``GeneralWeightsHook`` runs before each epoch)
    on a ``HeldOutSplit`` of the train dataset with the val pipeline, as the General
    configs set it up; each run also sets the weights, as the hook does. Timed as one unit
    of the round-robin; ``times`` collects its seconds."""

    def __init__(self, model, data: BenchmarkData, ratio: float):
        dataset = data.dataset(data.test_pipeline)
        heldout = HeldOutSplit(dataset, part='heldout', ratio=ratio, seed=data.seed)
        self.heldout_size = len(heldout)
        self.train_size = len(HeldOutSplit(dataset, part='train', ratio=ratio, seed=data.seed))
        self.loader = data.loader(heldout, batch_size=data.heldout_batch_size, shuffle=False)
        self.model = model
        self.ratio = ratio
        self.times: List[float] = []

    def run(self) -> None:
        weights, _ = estimate_general_weights(self.model, self.loader)
        self.model.soft_target.set_weights(weights)

    def unit(self, device: str) -> Unit:
        return ('general/estimate', lambda: self.times.append(timed(self.run, device)))

    def report(self, general_step: dict, pipeline: dict, data: BenchmarkData) -> dict:
        batches = math.ceil(self.train_size / data.batch_size)
        # With no workers the pipeline runs in the training loop, so it is part of the epoch.
        per_batch = general_step['median_ms'] + (
            pipeline['multi_view']['median_ms'] if data.num_workers == 0 else 0.0
        )
        stats = ms_summary(self.times)
        epoch_ms = batches * per_batch
        return dict(
            heldout_ratio=self.ratio,
            heldout_samples=self.heldout_size,
            train_samples=self.train_size,
            batches_per_epoch=batches,
            heldout_batch_size=data.heldout_batch_size,
            estimate=stats,
            epoch_ms=epoch_ms,
            fraction=stats['median_ms'] / epoch_ms,
        )
