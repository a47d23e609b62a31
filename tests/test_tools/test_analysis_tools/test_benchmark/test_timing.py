"""tools/analysis_tools/benchmark/timing.py: millisecond statistics of timed units."""

import pytest

from tools.analysis_tools.benchmark.timing import ms_summary


def test_summarise_gives_median_and_quartiles_in_ms():
    stats = ms_summary([0.004, 0.001, 0.003, 0.002])
    # numpy's linear interpolation on [1, 2, 3, 4] ms: quartiles at 1.75 and 3.25.
    assert stats == dict(
        median_ms=pytest.approx(2.5),
        q1_ms=pytest.approx(1.75),
        q3_ms=pytest.approx(3.25),
        iqr_ms=pytest.approx(1.5),
        n=4,
    )
