"""Paired KDCL-vs-solo comparisons (and how their numbers are written) for the demo report and
the recipe search.

The verdict rests on the paired 95 % t-interval of the per-seed differences (KDCL minus solo,
same seed): *higher* only when the whole interval lies above 0, *lower* when it lies below 0.
How many seeds KDCL was higher in, and the two-sided sign test, are reported beside it.
"""

from typing import Dict, List, Optional

from tools.common.stats import paired_interval, sign_test, summarize

CONFIDENCE = 0.95
# What a paired comparison concluded, as stated in the report.
VERDICTS = {
    'higher': 'KDCL beat solo training: the 95 % interval of the paired difference lies above 0',
    'lower': 'KDCL did NOT beat solo training: the 95 % interval of the paired difference lies '
    'below 0',
    'inconclusive': 'not shown either way: the 95 % interval of the paired difference includes 0 '
    '(or one seed gives no interval)',
    'same': 'no difference: KDCL and solo training scored the same in every seed',
    'none': 'not measured',
}


def verdict_of(interval: dict, higher: int, lower: int) -> str:
    """A key of :data:`VERDICTS` from the paired interval and the per-seed signs."""
    if interval['n'] == 0:
        return 'none'
    if higher == lower == 0:
        return 'same'
    if interval['low'] is not None and interval['low'] > 0:
        return 'higher'
    if interval['high'] is not None and interval['high'] < 0:
        return 'lower'
    return 'inconclusive'


def compare(kdcl: Dict[int, float], solo: Dict[int, float]) -> dict:
    """KDCL minus solo on the seeds both arms ran: the summary of the paired differences, their
    95 % interval, how many seeds KDCL was higher / lower in, the sign test's p-value and a
    verdict (a key of :data:`VERDICTS`)."""
    seeds = sorted(set(kdcl) & set(solo))
    delta = {s: float(kdcl[s]) - float(solo[s]) for s in seeds}
    higher = sum(d > 0 for d in delta.values())
    lower = sum(d < 0 for d in delta.values())
    interval = paired_interval([delta[s] for s in seeds], CONFIDENCE)
    return dict(
        delta=summarize(delta),
        seeds=seeds,
        kdcl_higher_in=higher,
        kdcl_lower_in=lower,
        interval=interval,
        sign_test_p=sign_test(higher, lower),
        verdict=verdict_of(interval, higher, lower),
    )


def format_stat(stats: Optional[dict], digits: int = 2, signed: bool = False) -> str:
    """``'mean ± std'`` (``'mean'`` for one seed, ``'—'`` when not measured)."""
    if not stats or stats.get('mean') is None:
        return '—'
    sign = '+' if signed else ''
    text = f'{stats["mean"]:{sign}.{digits}f}'
    if stats.get('std') is not None:
        text += f' ± {stats["std"]:.{digits}f}'
    return text


def format_interval(interval: Optional[dict], digits: int = 2) -> str:
    """``'[low, high]'`` with signs (``'—'`` without an interval, i.e. fewer than 2 seeds)."""
    if not interval or interval.get('low') is None:
        return '—'
    return f'[{interval["low"]:+.{digits}f}, {interval["high"]:+.{digits}f}]'


def difference_cells(comparison: dict) -> List[str]:
    """KDCL − solo (mean ± sd over seeds, signed) and its 95 % interval, as every table has them."""
    return [format_stat(comparison['delta'], signed=True), format_interval(comparison['interval'])]


def format_p(p: Optional[float]) -> str:
    return '—' if p is None else f'{p:.3g}'
