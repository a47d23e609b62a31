"""tools/demo/comparison.py: the paired KDCL-vs-solo verdicts."""

import pytest

from tools.demo.comparison import compare


@pytest.mark.parametrize(
    'kdcl, verdict, higher',
    [
        ({0: 91.0, 1: 95.0}, 'higher', 2),
        ({0: 89.0, 1: 93.0}, 'lower', 0),
        # Issue 15: 'higher'/'lower' only when the paired 95 % interval excludes 0; a 2-seed
        # interval of differences that disagree includes 0 (was 'mixed' under the sign rule).
        ({0: 91.0, 1: 93.0}, 'inconclusive', 1),
        ({0: 90.0, 1: 94.0}, 'same', 0),
        ({0: 90.0, 1: 95.0}, 'inconclusive', 1),  # a tie is not a win
    ],
)
def test_compare_pairs_seeds_and_states_a_verdict(kdcl, verdict, higher):
    result = compare(kdcl, {0: 90.0, 1: 94.0, 7: 50.0})  # seed 7: no KDCL run, ignored
    assert result['seeds'] == [0, 1]
    assert result['verdict'] == verdict and result['kdcl_higher_in'] == higher
    deltas = [kdcl[0] - 90.0, kdcl[1] - 94.0]
    assert result['delta']['mean'] == pytest.approx(sum(deltas) / 2)


def test_compare_without_common_seeds_is_not_measured():
    assert compare({0: 1.0}, {1: 1.0})['verdict'] == 'none'


T_975_DF2 = 4.302652729911275


def test_compare_verdict_follows_the_paired_interval_not_the_seed_count():
    solo = {0: 90.0, 1: 90.0, 2: 90.0}
    # Differences +1, +2, +3: interval 2 ± 4.3027 / sqrt(3) = [-0.48, 4.48] includes 0, although
    # KDCL is higher in 3/3 seeds.
    result = compare({0: 91.0, 1: 92.0, 2: 93.0}, solo)
    assert result['kdcl_higher_in'] == 3 and result['verdict'] == 'inconclusive'
    half = T_975_DF2 / 3**0.5
    assert result['interval']['low'] == pytest.approx(2.0 - half, rel=1e-9)
    assert result['interval']['high'] == pytest.approx(2.0 + half, rel=1e-9)
    assert result['sign_test_p'] == pytest.approx(0.25)  # 2 * (1/2)^3
    # Differences +3, +4, +5: interval 4 ± 2.48 = [1.52, 6.48] lies above 0.
    assert compare({0: 93.0, 1: 94.0, 2: 95.0}, solo)['verdict'] == 'higher'
    assert compare({0: 87.0, 1: 86.0, 2: 85.0}, solo)['verdict'] == 'lower'
    assert compare({0: 93.0}, solo)['verdict'] == 'inconclusive'  # one seed: no interval
