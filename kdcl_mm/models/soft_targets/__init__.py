from .base import BaseSoftTarget
from .general import GeneralSoftTarget
from .linear import LinearSoftTarget, project_to_simplex
from .mean import MeanSoftTarget
from .min_logit import MinLogitSoftTarget
from .naive import NaiveSoftTarget

__all__ = [
    'BaseSoftTarget',
    'NaiveSoftTarget',
    'LinearSoftTarget',
    'MinLogitSoftTarget',
    'GeneralSoftTarget',
    'MeanSoftTarget',
    'project_to_simplex',
]
