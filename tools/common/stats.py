"""Summary statistics shared by the benchmark (timings) and the demo (accuracies over seeds)."""

import math
from typing import Mapping, Sequence, Union

import numpy as np


def summarize(values: Union[Sequence[float], Mapping[int, float]]) -> dict:
    """``n``, ``mean``, sample ``std`` (None for n < 2), ``median`` and quartiles.

    Of a mapping (seed -> value), the summary of its values, after them by seed
    (``per_seed``, keys as strings, sorted). Quartiles use numpy's linear interpolation.
    Empty input gives ``n=0`` and Nones.
    """
    head = {}
    if isinstance(values, Mapping):
        head['per_seed'] = {str(k): float(values[k]) for k in sorted(values)}
        values = list(head['per_seed'].values())
    x = np.asarray(list(values), dtype=np.float64)
    if x.size == 0:
        return dict(head, n=0, mean=None, std=None, median=None, q1=None, q3=None)
    q1, median, q3 = np.percentile(x, [25, 50, 75])
    std = float(x.std(ddof=1)) if x.size >= 2 else None
    return dict(
        head,
        n=int(x.size),
        mean=float(x.mean()),
        std=std,
        median=float(median),
        q1=float(q1),
        q3=float(q3),
    )


def paired_interval(differences: Sequence[float], confidence: float = 0.95) -> dict:
    """The t-interval of the mean of paired differences (one per seed).

    ``mean ± t_{(1+confidence)/2, n-1} * sd / sqrt(n)`` with the sample ``sd``. Returns
    ``n, mean, sd, t, half_width, low, high, confidence``; for n < 2 there is no interval and
    ``sd, t, half_width, low, high`` are None.
    """
    if not 0 < confidence < 1:
        raise ValueError(f'paired_interval: confidence must be in (0, 1), got {confidence}.')
    summary = summarize(differences)
    n, sd = summary['n'], summary['std']
    result = dict(
        n=n,
        mean=summary['mean'],
        sd=None,
        t=None,
        half_width=None,
        low=None,
        high=None,
        confidence=confidence,
    )
    if n < 2:
        return result
    # scipy comes with mmdet and mmsegmentation, which either OpenMMLab extra installs.
    from scipy.stats import t as student_t

    t = float(student_t.ppf((1 + confidence) / 2, n - 1))
    half = t * sd / np.sqrt(n)
    result.update(
        sd=sd,
        t=t,
        half_width=float(half),
        low=result['mean'] - float(half),
        high=result['mean'] + float(half),
    )
    return result


def sign_test(n_higher: int, n_lower: int) -> float:
    """Two-sided exact sign test p-value; ties are left out before calling.

    ``p = min(1, 2 * P(X <= min(n_higher, n_lower)))`` for X ~ Binomial(n_higher + n_lower,
    1/2); 1.0 when there is no untied pair.
    """
    if n_higher < 0 or n_lower < 0:
        raise ValueError(f'sign_test: counts must be >= 0, got {n_higher}, {n_lower}.')
    n = n_higher + n_lower
    if n == 0:
        return 1.0
    k = min(n_higher, n_lower)
    tail = sum(math.comb(n, i) for i in range(k + 1)) / 2**n
    return min(1.0, 2 * tail)
