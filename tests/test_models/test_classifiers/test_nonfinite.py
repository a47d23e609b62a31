"""KDCL's per-student count of samples with non-finite logits (kdcl_mm/models/classifiers/
nonfinite.py): logged as ``{name}.nonfinite``, never summed into the loss, warned once."""

import pytest
import torch

from kdcl_mm.models.classifiers import nonfinite


def spoil_samples(model, student, samples, value=float('nan')):
    def hook(module, inputs, output):
        output = output.clone()
        output[samples, 0] = value
        return output

    return model.students[student].register_forward_hook(hook)


@pytest.fixture
def warnings(monkeypatch):
    said = []
    monkeypatch.setattr(nonfinite, 'print_log', lambda msg, **kw: said.append(msg))
    return said


def test_the_count_is_logged_per_student_and_not_added_to_the_loss(
    build_tiny_kdcl, multi_view_batch
):
    model = build_tiny_kdcl()
    views, samples = multi_view_batch(n=4, size=16)
    hook = spoil_samples(model, 0, [1, 3])
    losses = model.loss(views, samples)
    assert losses['resnet18.nonfinite'].item() == 2.0
    assert losses['mobilenet_v2.nonfinite'].item() == 0.0
    hook.remove()
    # mmengine adds only keys containing 'loss': a count of 5 leaves the total as it is.
    finite = model.loss(views, samples)
    finite['resnet18.nonfinite'] = torch.tensor(5.0)
    total, log_vars = model.parse_losses(finite)
    assert torch.equal(total, sum(v for k, v in finite.items() if 'loss' in k))
    assert log_vars['resnet18.nonfinite'].item() == 5.0


def test_the_first_occurrence_is_warned_once_naming_the_student(
    build_tiny_kdcl, multi_view_batch, warnings
):
    model = build_tiny_kdcl()
    views, samples = multi_view_batch(n=4, size=16)
    model.loss(views, samples)
    assert warnings == []
    first = spoil_samples(model, 0, [2])
    model.loss(views, samples)
    model.loss(views, samples)
    assert len(warnings) == 1
    assert "student 'resnet18' (model.students[0])" in warnings[0]
    assert 'on 1 of 4 samples' in warnings[0] and 'resnet18.nonfinite' in warnings[0]
    first.remove()
    spoil_samples(model, 1, [0, 1], float('inf'))
    model.loss(views, samples)
    assert len(warnings) == 2 and "'mobilenet_v2' (model.students[1])" in warnings[1]


def test_off_the_cpu_the_warning_reads_the_previous_steps_counts(monkeypatch, warnings):
    """No host synchronisation in the step: the counts are read one step later."""
    monkeypatch.setattr(nonfinite.NonFiniteLogits, 'reads_now', staticmethod(lambda c: False))
    watch = nonfinite.NonFiniteLogits(['a', 'b'])
    bad = torch.zeros(3, 4)
    bad[1, 2] = float('nan')
    counts, has_target = watch([bad, torch.zeros(3, 4)])
    assert torch.equal(counts, torch.tensor([1.0, 0.0])) and has_target.all()
    assert warnings == []
    watch([torch.zeros(3, 4), torch.zeros(3, 4)])
    assert len(warnings) == 1 and "student 'a' (model.students[0])" in warnings[0]
    watch([bad, bad])
    assert len(warnings) == 1  # 'b' is read at the next step
    watch([torch.zeros(3, 4), torch.zeros(3, 4)])
    assert len(warnings) == 2 and "'b'" in warnings[1]
