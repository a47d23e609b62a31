"""Top-k accuracy of every KDCL student and of their ensemble, from one validation pass."""

from typing import List, Sequence

import torch
from mmengine.evaluator import BaseMetric
from mmpretrain.evaluation import Accuracy

from kdcl_mm.registry import METRICS


@METRICS.register_module()
class KDCLAccuracy(BaseMetric):
    """Reports ``{student}/top{k}`` for each student and ``ensemble/top{k}``.

    ``save_best`` in the checkpoint hook can target any key, e.g. ``'ensemble/top1'``
    or ``'mobilenet_v2/top1'``. Expects the data samples of ``KDCL.predict``.
    """

    # The keys already name their model (``resnet50/top1``); '' rather than mmengine's None,
    # which warns "The prefix is not set" in every run. A ``prefix`` argument still applies.
    default_prefix = ''

    def __init__(
        self, topk: Sequence[int] = (1, 5), collect_device: str = 'cpu', prefix: str = None
    ):
        super().__init__(collect_device=collect_device, prefix=prefix)
        self.topk = tuple(topk)

    def process(self, data_batch, data_samples: Sequence[dict]) -> None:
        for sample in data_samples:
            if 'student_scores' not in sample:
                raise KeyError(
                    'KDCLAccuracy needs the predictions of a KDCL model '
                    "(val_evaluator type='KDCLAccuracy' with model type='KDCL'); "
                    "use mmpretrain's Accuracy for a single classifier."
                )
            self.results.append(
                dict(
                    names=tuple(sample['student_names']),
                    student_scores=sample['student_scores'].cpu(),
                    ensemble_score=sample['pred_score'].cpu(),
                    gt_label=sample['gt_label'].cpu(),
                )
            )

    def compute_metrics(self, results: List[dict]) -> dict:
        names = results[0]['names']
        target = torch.cat([r['gt_label'] for r in results])
        scores = torch.stack([r['student_scores'] for r in results])  # (M, N, C)
        topk = tuple(k for k in self.topk if k <= scores.size(-1))
        columns = {name: scores[:, i] for i, name in enumerate(names)}
        columns['ensemble'] = torch.stack([r['ensemble_score'] for r in results])
        metrics = {}
        for name, score in columns.items():
            per_k = Accuracy.calculate(score, target, topk=topk, thrs=(None,))
            for k, acc in zip(topk, per_k):
                metrics[f'{name}/top{k}'] = acc[0].item()
        return metrics
