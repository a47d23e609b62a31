"""KDCLAccuracy: per-student and ensemble top-k from one validation pass."""

import pytest
import torch

from kdcl_mm.registry import METRICS


def sample(student_scores, label):
    scores = torch.tensor(student_scores)
    return dict(
        student_scores=scores,
        pred_score=scores.mean(0),
        gt_label=torch.tensor([label]),
        student_names=('a', 'b'),
    )


def test_exact_accuracies_for_each_student_and_the_ensemble():
    metric = METRICS.build(dict(type='KDCLAccuracy', topk=(1, 2)))
    metric.dataset_meta = {}
    metric.process(
        None,
        [
            # a right, b wrong (label is b's last choice), ensemble right
            sample([[0.7, 0.2, 0.1], [0.1, 0.3, 0.6]], 0),
            # a wrong (3rd), b right; ensemble (0.45, 0.2, 0.35) -> class 0 right
            sample([[0.1, 0.3, 0.6], [0.8, 0.1, 0.1]], 0),
            # both right on class 2
            sample([[0.1, 0.2, 0.7], [0.2, 0.2, 0.6]], 2),
            # both wrong; ensemble (0.55, 0.35, 0.1) wrong
            sample([[0.6, 0.3, 0.1], [0.5, 0.4, 0.1]], 1),
        ],
    )
    m = metric.evaluate(4)
    assert m['a/top1'] == pytest.approx(50.0)
    assert m['b/top1'] == pytest.approx(50.0)
    assert m['ensemble/top1'] == pytest.approx(75.0)  # beats both students: samples 0, 1, 2
    assert m['a/top2'] == pytest.approx(75.0)  # sample 1 is 3rd for a
    assert m['b/top2'] == pytest.approx(75.0)  # sample 0 is 3rd for b
    assert set(m) == {'a/top1', 'a/top2', 'b/top1', 'b/top2', 'ensemble/top1', 'ensemble/top2'}


def test_topk_larger_than_num_classes_is_skipped():
    metric = METRICS.build(dict(type='KDCLAccuracy', topk=(1, 5)))
    metric.process(None, [sample([[0.6, 0.4], [0.3, 0.7]], 1)])
    assert set(metric.evaluate(1)) == {'a/top1', 'b/top1', 'ensemble/top1'}


def test_keys_carry_no_prefix_and_mmengine_does_not_warn_of_a_missing_one(monkeypatch):
    import mmengine.evaluator.metric as mmengine_metric

    logged = []
    monkeypatch.setattr(mmengine_metric, 'print_log', lambda msg, **kw: logged.append(msg))
    metric = METRICS.build(dict(type='KDCLAccuracy', topk=(1,)))
    assert not [m for m in logged if 'prefix is not set' in m]
    metric.process(None, [sample([[0.6, 0.4], [0.3, 0.7]], 1)])
    assert set(metric.evaluate(1)) == {'a/top1', 'b/top1', 'ensemble/top1'}
    prefixed = METRICS.build(dict(type='KDCLAccuracy', topk=(1,), prefix='val'))
    prefixed.process(None, [sample([[0.6, 0.4], [0.3, 0.7]], 1)])
    assert set(prefixed.evaluate(1)) == {'val/a/top1', 'val/b/top1', 'val/ensemble/top1'}


def test_predictions_of_a_single_classifier_get_a_clear_error():
    metric = METRICS.build(dict(type='KDCLAccuracy'))
    with pytest.raises(KeyError, match="mmpretrain's Accuracy"):
        metric.process(None, [dict(pred_score=torch.ones(3), gt_label=torch.tensor([0]))])
