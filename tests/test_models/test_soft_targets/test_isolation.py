"""Fault isolation in every generator (soft_targets/base.py): a student whose logits are NaN or
±inf on a sample is left out of that sample's ensemble, exactly as if it were not in the cohort;
a sample with no finite student has no target and no KD term."""

import copy

import pytest
import torch
import torch.nn.functional as F

from tests.test_models.test_soft_targets.helpers import NAMES, build, random_logits

BAD = [float('nan'), float('inf'), -float('inf')]


def heldout_statistics(num_students, count=400, classes=5, seed=3):
    """General's held-out error statistics of ``num_students`` students of different skill."""
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(classes, (count,), generator=g)
    base = torch.randn(count, classes, generator=g) + 2 * F.one_hot(labels, classes)
    probs = [
        F.softmax(base + (0.5 + i) * torch.randn(count, classes, generator=g), 1)
        for i in range(num_students)
    ]
    return build('GeneralSoftTarget', num_students).error_statistics(probs, labels), count


def generator_of(name, students, statistics):
    """The generator of the given students alone; General's weights from their held-out
    statistics, as GeneralWeightsHook would estimate them for that cohort."""
    gen = build(name, len(students))
    if name == 'GeneralSoftTarget':
        sums, count = statistics
        index = torch.tensor(students)
        gen.set_weights(gen.weights_from_statistics(sums[:, index][:, :, index], count))
    return gen


def spoil(z, samples, value):
    """``z`` with one logit of each of ``samples`` set to ``value``."""
    z = z.clone()
    z[samples, 1] = value
    return z


def one_student_ensemble(name, z, labels):
    """What every generator gives for a single student."""
    if name == 'MinLogitSoftTarget':
        return z - z.gather(1, labels[:, None])
    return z


@pytest.mark.parametrize('bad', BAD)
@pytest.mark.parametrize('name', NAMES)
def test_a_student_left_out_of_some_samples_gives_the_other_students_ensemble_there(name, bad):
    logits, labels = random_logits(3, batch=8, seed=5)
    statistics = heldout_statistics(3)
    spoiled, clean = [1, 4], [0, 2, 3, 5, 6, 7]
    logits[0] = spoil(logits[0], spoiled, bad)
    target = generator_of(name, [0, 1, 2], statistics)(logits, labels)
    without_0 = generator_of(name, [1, 2], statistics)(
        [z[spoiled] for z in logits[1:]], labels[spoiled]
    )
    assert torch.equal(target[spoiled], without_0)
    # Linear solves α per group of samples: the clean samples' α is solved over them alone.
    everyone = generator_of(name, [0, 1, 2], statistics)([z[clean] for z in logits], labels[clean])
    assert torch.equal(target[clean], everyone)


@pytest.mark.parametrize('name', NAMES)
def test_a_student_non_finite_on_every_sample_gives_the_n_minus_1_generator(name):
    logits, labels = random_logits(3, batch=8, seed=6)
    statistics = heldout_statistics(3)
    logits[1] = torch.full_like(logits[1], float('nan'))
    target = generator_of(name, [0, 1, 2], statistics)(logits, labels)
    expected = generator_of(name, [0, 2], statistics)([logits[0], logits[2]], labels)
    assert torch.equal(target, expected)


@pytest.mark.parametrize('bad', BAD)
@pytest.mark.parametrize('name', NAMES)
def test_of_two_students_the_finite_one_is_its_own_ensemble_where_the_other_is_not(name, bad):
    logits, labels = random_logits(2, batch=6, seed=7)
    statistics = heldout_statistics(2)
    logits[0] = spoil(logits[0], [2], bad)
    target = generator_of(name, [0, 1], statistics)(logits, labels)
    assert torch.equal(target[2], one_student_ensemble(name, logits[1][2:3], labels[2:3])[0])
    assert torch.isfinite(target).all()


@pytest.mark.parametrize('name', NAMES)
def test_a_sample_with_no_finite_student_has_no_target(name):
    logits, labels = random_logits(2, batch=6, seed=8)
    statistics = heldout_statistics(2)
    logits = [spoil(logits[0], [3], float('nan')), spoil(logits[1], [3], float('inf'))]
    target = generator_of(name, [0, 1], statistics)(logits, labels)
    assert torch.isnan(target[3]).all()
    others = [0, 1, 2, 4, 5]
    expected = generator_of(name, [0, 1], statistics)([z[others] for z in logits], labels[others])
    assert torch.equal(target[others], expected)


@pytest.mark.parametrize('name', NAMES)
def test_without_isolation_one_nan_reaches_the_target(name):
    """The switch the fault-injection script measures with: off, today's failure comes back."""
    logits, labels = random_logits(2, batch=6, seed=9)
    logits[0] = spoil(logits[0], [2], float('nan'))
    gen = build(name)
    gen.isolate_nonfinite = False
    assert not torch.isfinite(gen(logits, labels)[2]).all()


# ---- through KDCL.loss: the healthy student's loss and gradients ----


def nan_on_sample(model, student, sample, value):
    """Make ``model.students[student]`` emit ``value`` in one logit of ``sample``."""

    def hook(module, inputs, output):
        return spoil(output, [sample], value)

    return model.students[student].register_forward_hook(hook)


@pytest.mark.parametrize('bad', BAD[:2])
@pytest.mark.parametrize('name', NAMES)
def test_kdcl_healthy_student_is_finite_and_exactly_as_without_the_faulty_one(
    name, bad, build_tiny_kdcl, multi_view_batch
):
    model = build_tiny_kdcl(soft_target=dict(type=name))
    model._warned_heldout = True  # General's uniform start weights are fine here
    views, samples = multi_view_batch(n=6, size=16)
    healthy = copy.deepcopy(model.students[1])  # same weights, for the reference gradients
    nan_on_sample(model, 0, 2, bad)
    logits = []
    for student in model.students:
        student.register_forward_hook(lambda m, i, out: logits.append(out.detach()))
    losses = model.loss(views, samples)
    total, log_vars = model.parse_losses(losses)
    total.backward()
    assert not torch.isfinite(total)  # the faulty student's own CE: left to the guard
    assert torch.isfinite(losses['mobilenet_v2.loss_ce'])
    assert torch.isfinite(losses['mobilenet_v2.loss_kd'])
    grads = [p.grad for p in model.students[1].parameters()]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)

    # The target the healthy student would have without the faulty one on sample 2.
    labels = torch.cat([s.gt_label for s in samples])
    clean = [0, 1, 3, 4, 5]
    expected = torch.empty_like(logits[1])
    expected[2] = one_student_ensemble(name, logits[1][2:3], labels[2:3])[0]
    expected[clean] = model.soft_target([z[clean] for z in logits], labels[clean])
    z = healthy(views[1])
    reference = {
        'ce': healthy.head._get_loss(z, samples)['loss'],
        'kd': model.kd_loss(z, expected),
    }
    assert torch.equal(losses['mobilenet_v2.loss_ce'], reference['ce'])
    assert torch.equal(losses['mobilenet_v2.loss_kd'], reference['kd'])
    (reference['ce'] + reference['kd']).backward()
    for p, ref in zip(model.students[1].parameters(), healthy.parameters()):
        torch.testing.assert_close(p.grad, ref.grad, rtol=0, atol=0)


@pytest.mark.parametrize('name', NAMES)
def test_kdcl_sample_with_no_finite_student_adds_no_kd_term(
    name, build_tiny_kdcl, multi_view_batch
):
    # Eval mode: BN uses running statistics, so a sample's logits do not depend on its batch.
    model = build_tiny_kdcl(soft_target=dict(type=name)).eval()
    model._warned_heldout = True
    views, samples = multi_view_batch(n=4, size=16)
    clean = model.loss([v[[0, 1, 3]] for v in views], samples[:2] + samples[3:])
    nan_on_sample(model, 0, 2, float('nan'))
    nan_on_sample(model, 1, 2, float('inf'))
    spoiled = model.loss(views, samples)
    for name_ in model.student_names:
        # batchmean over 4 samples, the third adding 0: 3/4 of the 3-sample batch's KD.
        torch.testing.assert_close(
            spoiled[f'{name_}.loss_kd'], clean[f'{name_}.loss_kd'] * 3 / 4, rtol=1e-5, atol=0
        )
        assert not torch.isfinite(spoiled[f'{name_}.loss_ce'])
