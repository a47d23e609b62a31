import math

import pytest
import torch
import torch.nn.functional as F
from mmpretrain.registry import MODELS

import kdcl_mm  # noqa: F401
from kdcl_mm.models.soft_targets import (
    GeneralSoftTarget,
    LinearSoftTarget,
    MeanSoftTarget,
    MinLogitSoftTarget,
    NaiveSoftTarget,
    project_to_simplex,
)

NAMES = [
    'NaiveSoftTarget',
    'LinearSoftTarget',
    'MinLogitSoftTarget',
    'GeneralSoftTarget',
    'MeanSoftTarget',
]


def build(name, num_students=2):
    cfg = dict(type=name)
    if name == 'GeneralSoftTarget':
        cfg['num_students'] = num_students
    return MODELS.build(cfg)


def per_sample_ce(z, y):
    return F.cross_entropy(z, y, reduction='none')


def random_logits(num_students, batch=6, classes=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    logits = [3 * torch.randn(batch, classes, generator=g) for _ in range(num_students)]
    labels = torch.randint(classes, (batch,), generator=g)
    return logits, labels


@pytest.mark.parametrize('name', NAMES)
def test_registered_under_kdcl_names(name):
    assert type(build(name)).__name__ == name


@pytest.mark.parametrize('name', NAMES)
@pytest.mark.parametrize('num_students', [2, 3])
def test_target_has_no_gradient(name, num_students):
    logits, labels = random_logits(num_students)
    logits = [z.requires_grad_() for z in logits]
    target = build(name, num_students)(logits, labels)
    assert target.shape == (6, 5)
    assert not target.requires_grad and target.grad_fn is None


@pytest.mark.parametrize('name', NAMES)
def test_bad_inputs_raise(name):
    gen = build(name)
    z = torch.zeros(4, 3)
    y = torch.zeros(4, dtype=torch.long)
    with pytest.raises(ValueError, match='at least 2'):
        gen([z], y)
    with pytest.raises(ValueError, match='same'):
        gen([z, torch.zeros(4, 5)], y)
    with pytest.raises(ValueError, match=r'shape \(B,\)'):
        gen([z, z], torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match='integer'):
        gen([z, z], torch.zeros(4))


# ---- MinLogit -------------------------------------------------------------


def test_min_logit_hand_computed():
    z1 = torch.tensor([[2.0, 1.0, 0.0], [0.0, 5.0, 1.0]])
    z2 = torch.tensor([[3.0, 0.0, 1.0], [2.0, 4.0, 0.0]])
    y = torch.tensor([0, 1])
    target = MinLogitSoftTarget()([z1, z2], y)
    # sample 0: z1 - 2 = [0, -1, -2], z2 - 3 = [0, -3, -2]
    # sample 1: z1 - 5 = [-5, 0, -4], z2 - 4 = [-2, 0, -4]
    assert torch.equal(target, torch.tensor([[0.0, -3.0, -2.0], [-5.0, 0.0, -4.0]]))


@pytest.mark.parametrize('num_students', [2, 3])
def test_min_logit_true_class_zero_and_ce_below_every_student(num_students):
    logits, y = random_logits(num_students, seed=num_students)
    target = MinLogitSoftTarget()(logits, y)
    assert torch.all(target.gather(1, y[:, None]) == 0)
    target_ce = per_sample_ce(target, y)
    for z in logits:
        assert torch.all(target_ce <= per_sample_ce(z, y) + 1e-6)


# ---- Naive ----------------------------------------------------------------


@pytest.mark.parametrize('num_students', [2, 3])
def test_naive_picks_best_student_per_sample(num_students):
    logits, y = random_logits(num_students, batch=6, classes=4, seed=1)
    best = torch.tensor([1, 0, num_students - 1, 0, 1, num_students - 1])
    for b, k in enumerate(best.tolist()):
        logits[k][b, y[b]] = 50.0  # student k is clearly best on sample b
    target = NaiveSoftTarget()(logits, y)
    for b, k in enumerate(best.tolist()):
        assert torch.equal(target[b], logits[k][b])


# ---- Mean -----------------------------------------------------------------


def test_mean_averages_logits():
    z1 = torch.tensor([[1.0, 2.0], [3.0, -4.0]])
    z2 = torch.tensor([[3.0, 0.0], [1.0, 4.0]])
    z3 = torch.tensor([[2.0, 1.0], [-1.0, 3.0]])
    target = MeanSoftTarget()([z1, z2, z3], torch.tensor([0, 1]))
    assert torch.allclose(target, torch.tensor([[2.0, 1.0], [1.0, 1.0]]))


# ---- Linear ---------------------------------------------------------------


def mixture_ce(alpha, logits, y):
    return F.cross_entropy(sum(a * z for a, z in zip(alpha, logits)), y)


def test_project_to_simplex_known_values():
    v = torch.tensor([[1.0, 1.0], [2.0, 0.0], [0.6, 0.6], [0.3, 0.2]])
    expected = torch.tensor([[0.5, 0.5], [1.0, 0.0], [0.5, 0.5], [0.55, 0.45]])
    assert torch.allclose(project_to_simplex(v), expected)
    v3 = torch.tensor([0.6, 0.6, 0.1])
    assert torch.allclose(project_to_simplex(v3), torch.tensor([0.5, 0.5, 0.0]))


@pytest.mark.parametrize('num_students', [2, 3])
def test_linear_alpha_on_simplex_and_not_worse_than_best_student(num_students):
    logits, y = random_logits(num_students, batch=8, seed=7)
    gen = LinearSoftTarget()
    target = gen(logits, y)
    alpha = gen.alpha
    assert alpha.shape == (num_students,)
    assert torch.all(alpha >= 0)
    assert math.isclose(alpha.sum().item(), 1.0, abs_tol=1e-6)
    assert torch.allclose(target, sum(a * z for a, z in zip(alpha, logits)))
    best_single = min(F.cross_entropy(z, y).item() for z in logits)
    assert F.cross_entropy(target, y).item() <= best_single + 1e-6


def test_linear_starts_at_best_single_student():
    z1 = torch.tensor([[3.0, 0.0], [0.0, 1.0]])
    z2 = torch.tensor([[0.0, 1.0], [2.0, 0.0]])
    y = torch.tensor([0, 0])  # z1's mean CE 0.681 < z2's 0.720
    gen = LinearSoftTarget(max_iters=0)
    assert torch.equal(gen([z1, z2], y), z1)
    assert torch.equal(gen.alpha, torch.tensor([1.0, 0.0]))


def test_linear_symmetric_interior_optimum():
    # Each student is right on one sample and equally wrong on the other, so
    # CE(a) = softplus(4 - 8a) + softplus(8a - 4) is minimised at a = 1/2.
    z1 = torch.tensor([[4.0, 0.0], [0.0, 4.0]])
    z2 = torch.tensor([[0.0, 4.0], [4.0, 0.0]])
    y = torch.tensor([0, 0])
    gen = LinearSoftTarget()
    target = gen([z1, z2], y)
    assert torch.allclose(gen.alpha, torch.tensor([0.5, 0.5]), atol=1e-3)
    assert math.isclose(F.cross_entropy(target, y).item(), math.log(2), abs_tol=1e-5)


def test_linear_matches_brute_force_on_asymmetric_case():
    z1 = torch.tensor([[3.0, 0.0], [0.0, 1.0]])
    z2 = torch.tensor([[0.0, 1.0], [2.0, 0.0]])
    y = torch.tensor([0, 0])
    grid = torch.linspace(0, 1, 100001, dtype=torch.float64)
    # margins of a·z1 + (1 - a)·z2: 4a - 1 on sample 0, 2 - 3a on sample 1
    grid_ce = (F.softplus(1 - 4 * grid) + F.softplus(3 * grid - 2)) / 2
    a_star = grid[grid_ce.argmin()].item()
    assert math.isclose(
        mixture_ce((a_star, 1 - a_star), [z1, z2], y).item(), grid_ce.min().item(), abs_tol=1e-6
    )
    assert 0.05 < a_star < 0.95  # the optimum is strictly interior
    gen = LinearSoftTarget()
    gen([z1, z2], y)
    assert 0 < gen.alpha[0] < 1
    assert math.isclose(gen.alpha[0].item(), a_star, abs_tol=2e-3)
    assert mixture_ce(gen.alpha, [z1, z2], y).item() <= grid_ce.min().item() + 1e-6


# ---- General --------------------------------------------------------------


def test_general_weights_closed_form():
    gen = GeneralSoftTarget(num_students=3, reg=0.0, weighting='closed_form')
    w = gen.weights_from_covariance(torch.diag(torch.tensor([1.0, 2.0, 4.0])))
    assert torch.allclose(w, torch.tensor([4 / 7, 2 / 7, 1 / 7]))
    assert math.isclose(w.sum().item(), 1.0, abs_tol=1e-6)

    gen2 = GeneralSoftTarget(num_students=2, reg=0.0, weighting='closed_form')
    # C^-1 ∝ [[4, -1.2], [-1.2, 1]], row sums [2.8, -0.2]
    w2 = gen2.weights_from_covariance(torch.tensor([[1.0, 1.2], [1.2, 4.0]]))
    assert torch.allclose(w2, torch.tensor([2.8 / 2.6, -0.2 / 2.6]))


def test_general_regularisation_relative_to_mean_diagonal():
    gen = GeneralSoftTarget(num_students=2, reg=0.5, weighting='closed_form')
    # mean diag 2, ridge 1: diag(2, 4) -> w ∝ [1/2, 1/4]
    w = gen.weights_from_covariance(torch.diag(torch.tensor([1.0, 3.0])))
    assert torch.allclose(w, torch.tensor([2 / 3, 1 / 3]))


def test_general_error_products_and_estimate_hand_computed():
    p1 = torch.tensor([[0.8, 0.2], [0.4, 0.6]])
    p2 = torch.tensor([[0.6, 0.4], [0.1, 0.9]])
    y = torch.tensor([0, 1])
    gen = GeneralSoftTarget(num_students=2, reg=0.0, weighting='closed_form')
    # errors: p1 -> [-.2, .2], [.4, -.4]; p2 -> [-.4, .4], [.1, -.1]
    expected = torch.tensor([[0.40, 0.24], [0.24, 0.34]], dtype=torch.float64)
    assert torch.allclose(gen.error_products([p1, p2], y), expected)
    # C = expected / 2; C^-1 ∝ [[.17, -.12], [-.12, .2]], row sums [.05, .08]
    assert torch.allclose(gen.estimate_weights([p1, p2], y), torch.tensor([5 / 13, 8 / 13]))


def test_general_forward_uses_weights_buffer():
    z1 = torch.tensor([[1.0, 2.0], [3.0, 0.0]])
    z2 = torch.tensor([[3.0, 0.0], [1.0, 4.0]])
    y = torch.tensor([0, 1])
    gen = GeneralSoftTarget(num_students=2)
    assert not gen.estimated
    assert torch.allclose(gen([z1, z2], y), (z1 + z2) / 2)
    gen.set_weights(torch.tensor([0.75, 0.25]))
    assert gen.estimated
    assert torch.allclose(gen([z1, z2], y), 0.75 * z1 + 0.25 * z2)
    state = gen.state_dict()
    assert set(state) == {'weights', 'estimated'}
    restored = GeneralSoftTarget(num_students=2)
    restored.load_state_dict(state)
    assert restored.estimated and torch.equal(restored.weights, gen.weights)


def test_general_bad_config_and_student_count():
    assert GeneralSoftTarget.requires_heldout
    assert not MinLogitSoftTarget.requires_heldout
    with pytest.raises(ValueError, match='num_students'):
        GeneralSoftTarget(num_students=1)
    gen = GeneralSoftTarget(num_students=3)
    z = torch.zeros(2, 4)
    y = torch.zeros(2, dtype=torch.long)
    with pytest.raises(ValueError, match='num_students=3'):
        gen([z, z], y)
    with pytest.raises(ValueError, match='num_students=3'):
        gen.error_products([z, z], y)
    with pytest.raises(ValueError, match=r'shape \(3,\)'):
        gen.set_weights(torch.ones(2) / 2)
