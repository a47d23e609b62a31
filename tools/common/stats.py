"""Summary statistics shared by the benchmark (timings) and the demo (accuracies over seeds)."""
from typing import Sequence

import numpy as np


def summarize(values: Sequence[float]) -> dict:
    """``n``, ``mean``, sample ``std`` (None for n < 2), ``median`` and quartiles.

    Quartiles use numpy's linear interpolation. Empty input gives ``n=0`` and Nones.
    """
    x = np.asarray(list(values), dtype=np.float64)
    if x.size == 0:
        return dict(n=0, mean=None, std=None, median=None, q1=None, q3=None)
    q1, median, q3 = np.percentile(x, [25, 50, 75])
    std = float(x.std(ddof=1)) if x.size >= 2 else None
    return dict(n=int(x.size), mean=float(x.mean()), std=std, median=float(median),
                q1=float(q1), q3=float(q3))

