"""tools/common/stats.py: the summary over seeds, the paired t-interval and the sign test the
demo's verdicts rest on, against values computed by hand."""

import math

import pytest

from tools.common.stats import paired_interval, sign_test, summarize

T_975_DF2 = 4.302652729911275  # t_{0.975, 2}, from a t-table


def test_summarize_gives_mean_and_sample_std():
    stats = summarize({2: 94.0, 0: 90.0, 1: 92.0})
    assert stats['mean'] == pytest.approx(92.0)
    assert stats['std'] == pytest.approx(2.0)  # sqrt((4 + 0 + 4) / 2)
    assert stats['n'] == 3 and list(stats['per_seed']) == ['0', '1', '2']
    single = summarize({5: 80.0})
    assert single['mean'] == 80.0 and single['std'] is None


def test_interval_of_one_two_three():
    result = paired_interval([1.0, 2.0, 3.0])
    assert result['n'] == 3 and result['mean'] == pytest.approx(2.0)
    assert result['sd'] == pytest.approx(1.0)  # sqrt((1 + 0 + 1) / 2)
    assert result['t'] == pytest.approx(T_975_DF2, rel=1e-9)
    half = T_975_DF2 / math.sqrt(3)  # 2.4841...
    assert result['half_width'] == pytest.approx(half, rel=1e-9)
    assert round(result['half_width'], 4) == 2.4841
    assert (result['low'], result['high']) == pytest.approx((2.0 - half, 2.0 + half), rel=1e-9)
    assert result['confidence'] == 0.95


def test_interval_of_constant_differences_is_a_point():
    result = paired_interval([-1.0, -1.0])
    assert result['sd'] == 0.0 and result['low'] == result['high'] == pytest.approx(-1.0)


def test_two_seeds_use_t_with_one_degree_of_freedom():
    result = paired_interval([1.0, 2.0])  # mean 1.5, sd sqrt(0.5), t_{0.975,1} = 12.7062
    half = 12.706204736174694 * math.sqrt(0.5) / math.sqrt(2)
    assert result['half_width'] == pytest.approx(half, rel=1e-9)
    assert result['low'] == pytest.approx(1.5 - half) and result['low'] < 0


def test_one_seed_has_no_interval():
    result = paired_interval([0.7])
    assert result['n'] == 1 and result['mean'] == pytest.approx(0.7)
    assert result['half_width'] is result['low'] is result['high'] is result['sd'] is None


def test_confidence_outside_zero_one_is_a_clear_error():
    with pytest.raises(ValueError, match='confidence'):
        paired_interval([1.0, 2.0], confidence=95)


@pytest.mark.parametrize(
    'higher, lower, p',
    [
        (5, 0, 2 / 32),  # 0.0625
        (0, 5, 2 / 32),
        (3, 0, 2 / 8),  # 0.25
        (4, 1, 2 * (1 + 5) / 32),  # 0.375
        (2, 2, 1.0),  # 2 * 11/16 capped at 1
        (0, 0, 1.0),  # no untied seed: no evidence either way
        (10, 0, 2 / 1024),
    ],
)
def test_sign_test_two_sided_exact(higher, lower, p):
    assert sign_test(higher, lower) == pytest.approx(p)
