"""Across-seed summaries and paired KDCL-vs-solo comparisons for the demo report."""
import math
from typing import Dict, Optional

# What a paired comparison concluded, as stated in the report.
VERDICTS = {
    'higher': 'KDCL beat solo training in every seed',
    'lower': 'KDCL did NOT beat solo training: lower in every seed',
    'mixed': 'no consistent difference: KDCL higher in some seeds, not in others',
    'same': 'no difference: KDCL and solo training scored the same in every seed',
    'none': 'not measured',
}


def summarize(per_seed: Dict[int, float]) -> dict:
    """``{per_seed, n, mean, std}``; ``std`` is the sample standard deviation (None for n < 2)."""
    values = [float(per_seed[s]) for s in sorted(per_seed)]
    n = len(values)
    mean = sum(values) / n if n else None
    std = math.sqrt(sum((v - mean)**2 for v in values) / (n - 1)) if n >= 2 else None
    return dict(per_seed={str(s): float(per_seed[s]) for s in sorted(per_seed)}, n=n, mean=mean,
                std=std)


def compare(kdcl: Dict[int, float], solo: Dict[int, float]) -> dict:
    """KDCL minus solo on the seeds both arms ran: the summary of the paired differences,
    how many seeds KDCL was higher in, and a verdict (a key of :data:`VERDICTS`)."""
    seeds = sorted(set(kdcl) & set(solo))
    delta = {s: float(kdcl[s]) - float(solo[s]) for s in seeds}
    higher = sum(d > 0 for d in delta.values())
    lower = sum(d < 0 for d in delta.values())
    if not seeds:
        verdict = 'none'
    elif higher == len(seeds):
        verdict = 'higher'
    elif lower == len(seeds):
        verdict = 'lower'
    elif higher == lower == 0:
        verdict = 'same'
    else:
        verdict = 'mixed'
    return dict(delta=summarize(delta), seeds=seeds, kdcl_higher_in=higher, kdcl_lower_in=lower,
                verdict=verdict)


def format_stat(stats: Optional[dict], digits: int = 2, signed: bool = False) -> str:
    """``'mean ± std'`` (``'mean'`` for one seed, ``'—'`` when not measured)."""
    if not stats or stats.get('mean') is None:
        return '—'
    sign = '+' if signed else ''
    text = f'{stats["mean"]:{sign}.{digits}f}'
    if stats.get('std') is not None:
        text += f' ± {stats["std"]:.{digits}f}'
    return text
