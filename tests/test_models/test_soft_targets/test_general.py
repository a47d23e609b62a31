"""GeneralSoftTarget: held-out weights, their buffers, and the sub-ensembles of finite students."""

import math

import pytest
import torch
import torch.nn.functional as F

from kdcl_mm.models.soft_targets import GeneralSoftTarget, MinLogitSoftTarget


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
    # subset_weights: the sub-ensembles' weights (fault isolation), installed with the weights.
    assert set(state) == {'weights', 'estimated', 'subset_weights'}
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


# ---- sub-ensembles of finite students (fault isolation) ----


def heldout_sums(num_students, count=300, classes=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    labels = torch.randint(classes, (count,), generator=g)
    base = torch.randn(count, classes, generator=g) + 2 * F.one_hot(labels, classes)
    probs = [
        F.softmax(base + (0.4 + 0.3 * i) * torch.randn(count, classes, generator=g), 1)
        for i in range(num_students)
    ]
    return GeneralSoftTarget(num_students=num_students).error_statistics(probs, labels), count


@pytest.mark.parametrize('weighting', ['closed_form', 'simplex', 'shrinkage'])
def test_every_sub_ensemble_gets_the_weights_general_estimates_for_it_alone(weighting):
    sums, count = heldout_sums(3)
    gen = GeneralSoftTarget(num_students=3, weighting=weighting)
    gen.set_weights(gen.weights_from_statistics(sums, count))
    assert torch.equal(gen.subset_weights[0b111], gen.weights)
    for code, members in [(0b110, [1, 2]), (0b101, [0, 2]), (0b011, [0, 1])]:
        index = torch.tensor(members)
        alone = GeneralSoftTarget(num_students=2, weighting=weighting)
        expected = alone.weights_from_statistics(sums[:, index][:, :, index], count)
        assert torch.equal(gen.subset_weights[code, index], expected)
        assert gen.subset_weights[code].sum() == pytest.approx(1.0)
    # Not the full weights renormalised: those ignore how the two left err together (here
    # student 2's full weight is about 0, its weight beside student 1 alone about 0.2).
    renormalised = gen.weights[1:] / gen.weights[1:].sum()
    assert (gen.subset_weights[0b110, 1:] - renormalised).abs().max() > 0.1
    for code, member in [(0b001, 0), (0b010, 1), (0b100, 2)]:
        assert torch.equal(gen.subset_weights[code], F.one_hot(torch.tensor(member), 3).float())
    assert torch.equal(gen.subset_weights[0], torch.zeros(3))


def test_weights_set_by_hand_give_sub_ensembles_their_renormalised_weights():
    gen = GeneralSoftTarget(num_students=3)
    gen.set_weights(torch.tensor([0.5, 0.3, 0.2]))
    torch.testing.assert_close(gen.subset_weights[0b110], torch.tensor([0.0, 0.6, 0.4]))
    torch.testing.assert_close(gen.subset_weights[0b101], torch.tensor([5 / 7, 0.0, 2 / 7]))
    assert torch.equal(gen.subset_weights[0b111], torch.tensor([0.5, 0.3, 0.2]))
    gen.set_weights(torch.tensor([1.5, -0.5, 0.0]))  # negative sum over {1, 2}: uniform
    torch.testing.assert_close(gen.subset_weights[0b110], torch.tensor([0.0, 0.5, 0.5]))


def test_a_student_non_finite_on_heldout_data_is_left_out_of_the_weights(monkeypatch):
    from kdcl_mm.models.soft_targets import general

    sums, count = heldout_sums(3)
    sums[:, 0, :] = sums[:, :, 0] = float('nan')  # student 0 had a NaN held-out prediction
    warnings = []
    monkeypatch.setattr(general, 'print_log', lambda msg, **kw: warnings.append(msg))
    gen = GeneralSoftTarget(num_students=3)
    weights = gen.weights_from_statistics(sums, count)
    gen.set_weights(weights)  # finite: no 'weights must be finite' error
    alone = GeneralSoftTarget(num_students=2).weights_from_statistics(sums[:, 1:, 1:], count)
    assert torch.equal(weights, torch.cat([torch.zeros(1), alone]))
    assert torch.equal(gen.subset_weights[0b011], torch.tensor([0.0, 1.0, 0.0]))
    assert torch.equal(gen.subset_weights[0b001], torch.tensor([1.0, 0.0, 0.0]))  # uniform
    assert any('model.students[0]' in w and 'non-finite' in w for w in warnings)


def test_a_checkpoint_without_subset_weights_loads_with_renormalised_ones():
    old = GeneralSoftTarget(num_students=3)
    old.set_weights(torch.tensor([0.5, 0.3, 0.2]))
    state = {k: v for k, v in old.state_dict().items() if k != 'subset_weights'}
    restored = GeneralSoftTarget(num_students=3)
    restored.load_state_dict(state)  # strict: nothing missing
    assert torch.equal(restored.subset_weights, old.subset_weights)
