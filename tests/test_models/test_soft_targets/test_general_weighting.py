"""GeneralSoftTarget's weightings (closed form, simplex, shrinkage) and held-out size checks."""

import itertools
from unittest import mock

import pytest
import torch
import torch.nn.functional as F

from kdcl_mm.models.soft_targets import GeneralSoftTarget, general_weighting
from kdcl_mm.models.soft_targets.general import min_heldout_samples
from kdcl_mm.models.soft_targets.general_weighting import (
    closed_form_weights,
    shrink_to_diagonal,
    shrinkage_intensity,
    simplex_weights,
)


def t64(rows):
    return torch.tensor(rows, dtype=torch.float64)


# ---- simplex ----


def test_simplex_equals_closed_form_when_that_is_non_negative():
    c = t64([[0.20, 0.12], [0.12, 0.17]])  # w = [5/13, 8/13] (test_general.py)
    expected = t64([5 / 13, 8 / 13])
    torch.testing.assert_close(closed_form_weights(c), expected)
    torch.testing.assert_close(simplex_weights(c), expected)


def test_simplex_two_students_clips_the_unconstrained_optimum():
    # w_1 = (c22 - c12) / (c11 + c22 - 2 c12) = 0.3 / 0.2 = 1.5: clipped to the vertex [1, 0].
    c = t64([[0.1, 0.2], [0.2, 0.5]])
    torch.testing.assert_close(closed_form_weights(c), t64([1.5, -0.5]))
    torch.testing.assert_close(simplex_weights(c), t64([1.0, 0.0]))
    # Mirrored: the other vertex.
    torch.testing.assert_close(simplex_weights(c.flip(0, 1)), t64([0.0, 1.0]))


def random_spd(n, seed):
    g = torch.Generator().manual_seed(seed)
    a = torch.randn(n, n + 2, generator=g, dtype=torch.float64)
    return (
        a @ a.T / (n + 2)
        + 0.3
        * torch.randn(n, generator=g, dtype=torch.float64)
        .outer(torch.ones(n, dtype=torch.float64))
        .abs()
        .diag()
        .diag()
    )


@pytest.mark.parametrize('seed', range(4))
def test_simplex_three_students_is_the_grid_minimum(seed):
    c = random_spd(3, seed)
    w = simplex_weights(c)
    assert (w >= 0).all() and abs(w.sum().item() - 1) < 1e-12
    step = 0.005
    grid = [
        (a * step, b * step) for a, b in itertools.product(range(201), repeat=2) if a + b <= 200
    ]
    points = t64([(a, b, max(0.0, 1 - a - b)) for a, b in grid])
    grid_min = torch.einsum('ki,ij,kj->k', points, c, points).min()
    value = w @ c @ w
    assert value <= grid_min + 1e-12
    # ... and within the grid's resolution of it (the optimum is a true minimum).
    assert grid_min - value < 3 * step * c.abs().max()


def test_simplex_projected_gradient_fallback_agrees_with_the_exact_solution():
    c = t64([[0.1, 0.2, 0.05], [0.2, 0.5, 0.1], [0.05, 0.1, 0.3]])
    exact = simplex_weights(c)
    with mock.patch.object(general_weighting, 'MAX_EXACT_SIMPLEX', 2):
        approx = simplex_weights(c)
    torch.testing.assert_close(approx, exact, atol=1e-6, rtol=0)


# ---- shrinkage ----


def test_shrinkage_intensity_hand_computed():
    means = t64([[1.0, 0.5], [0.5, 1.0]])
    squares = t64([[2.0, 0.5], [0.5, 2.0]])
    # Var(C_12) = (0.5 - 0.25) / (11 - 1) = 0.025; λ = 2 * 0.025 / (2 * 0.25) = 0.1
    assert shrinkage_intensity(means, squares, 11) == pytest.approx(0.1)
    torch.testing.assert_close(shrink_to_diagonal(means, 0.1), t64([[1.0, 0.45], [0.45, 1.0]]))
    # More samples, less shrinkage; noise larger than the signal: full shrinkage.
    assert shrinkage_intensity(means, squares, 101) == pytest.approx(0.01)
    assert shrinkage_intensity(means, t64([[2.0, 9.0], [9.0, 2.0]]), 11) == 1.0
    assert shrinkage_intensity(means, squares, 1) == 1.0


def test_full_shrinkage_gives_inverse_error_weights():
    c = shrink_to_diagonal(t64([[0.1, 0.08], [0.08, 0.4]]), 1.0)
    torch.testing.assert_close(closed_form_weights(c), t64([0.8, 0.2]))


def held_out(m, seed=0, classes=4):
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(0, classes, (m,), generator=g)
    base = torch.randn(m, classes, generator=g) + 2 * F.one_hot(labels, classes)
    probs = [F.softmax(base + s * torch.randn(m, classes, generator=g), 1) for s in (0.5, 1.0)]
    return probs, labels


def test_statistics_are_sums_so_ranks_can_all_reduce_them():
    probs, labels = held_out(12)
    gen = GeneralSoftTarget(num_students=2, weighting='shrinkage')
    whole = gen.error_statistics(probs, labels)
    halves = sum(
        gen.error_statistics([p[s] for p in probs], labels[s]) for s in (slice(0, 5), slice(5, 12))
    )
    torch.testing.assert_close(halves, whole)
    errors = torch.stack(probs).double() - F.one_hot(labels, 4).double()
    per_sample = torch.einsum('imc,jmc->mij', errors, errors)
    torch.testing.assert_close(whole[1], (per_sample**2).sum(0))


def test_shrinkage_weights_are_the_closed_form_of_the_shrunk_matrix():
    probs, labels = held_out(40)
    gen = GeneralSoftTarget(num_students=2, reg=0.0, weighting='shrinkage')
    w = gen.estimate_weights(probs, labels)
    means = gen.error_statistics(probs, labels) / 40
    intensity = shrinkage_intensity(means[0], means[1], 40)
    assert gen.last_intensity == intensity and 0 < intensity < 1
    expected = closed_form_weights(shrink_to_diagonal(means[0], intensity))
    torch.testing.assert_close(w, expected.float())


@pytest.mark.parametrize('weighting', ['closed_form', 'simplex', 'shrinkage'])
def test_every_weighting_sums_to_one(weighting):
    probs, labels = held_out(200)
    w = GeneralSoftTarget(num_students=2, weighting=weighting).estimate_weights(probs, labels)
    assert abs(w.sum().item() - 1) < 1e-6
    if weighting == 'simplex':
        assert (w >= 0).all()


def test_default_is_simplex_chosen_on_val():
    # docs/demo.md, "General weights: closed form, simplex, shrinkage".
    assert GeneralSoftTarget(num_students=2).weighting == 'simplex'
    c = t64([[0.1, 0.2], [0.2, 0.5]])  # closed form [1.5, -0.5]
    torch.testing.assert_close(
        GeneralSoftTarget(num_students=2, reg=0.0).weights_from_covariance(c),
        torch.tensor([1.0, 0.0]),
    )


def test_unknown_weighting_is_refused():
    with pytest.raises(ValueError, match=r"weighting must be one of .*got 'lw'"):
        GeneralSoftTarget(num_students=2, weighting='lw')


# ---- held-out size ----


def test_fewer_heldout_samples_than_students_is_an_error_naming_heldout_and_the_ratio():
    probs, labels = held_out(2)
    gen = GeneralSoftTarget(num_students=3)
    with pytest.raises(
        ValueError,
        match=r'2 sample\(s\) for 3 students \(heldout/students = '
        r'0\.67 < 1\)',
    ):
        gen.estimate_weights(probs + probs[:1], labels)


def test_small_heldout_split_warns_once():
    assert min_heldout_samples(2) == 150 and min_heldout_samples(3) == 300
    gen = GeneralSoftTarget(num_students=2)
    with mock.patch('kdcl_mm.models.soft_targets.general.print_log') as log:
        gen.estimate_weights(*held_out(149))
        gen.estimate_weights(*held_out(149))
        assert log.call_count == 1
        assert '149 held-out samples for 2 students' in log.call_args[0][0]
    with mock.patch('kdcl_mm.models.soft_targets.general.print_log') as log:
        GeneralSoftTarget(num_students=2).estimate_weights(*held_out(150))
        assert log.call_count == 0
