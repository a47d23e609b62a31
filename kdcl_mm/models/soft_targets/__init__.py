from .base import BaseSoftTarget
from .general import WEIGHTINGS, GeneralSoftTarget
from .linear import LinearSoftTarget, project_to_simplex
from .mean import MeanSoftTarget
from .min_logit import MinLogitSoftTarget
from .naive import NaiveSoftTarget

#: Short name -> registered type of every soft-target generator: the paper's four, then the
#: DML-style Mean baseline. The one list; benchmarks, the demo and tests derive theirs from it.
GENERATORS = {
    cls.__name__[: -len('SoftTarget')]: cls.__name__
    for cls in (
        NaiveSoftTarget,
        LinearSoftTarget,
        MinLogitSoftTarget,
        GeneralSoftTarget,
        MeanSoftTarget,
    )
}

__all__ = [
    'BaseSoftTarget',
    'GENERATORS',
    'GeneralSoftTarget',
    'LinearSoftTarget',
    'MeanSoftTarget',
    'MinLogitSoftTarget',
    'NaiveSoftTarget',
    'WEIGHTINGS',
    'project_to_simplex',
]
