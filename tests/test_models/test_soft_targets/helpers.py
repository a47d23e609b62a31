"""Logits and generators that several soft-target test files build."""

import torch
import torch.nn.functional as F

from kdcl_mm.models.soft_targets import GENERATORS
from kdcl_mm.registry import MODELS

#: Registered type of every generator, in kdcl_mm.models.soft_targets.GENERATORS' order.
NAMES = list(GENERATORS.values())


def build(name, num_students=2):
    cfg = dict(type=name)
    if name == 'GeneralSoftTarget':
        cfg['num_students'] = num_students
    return MODELS.build(cfg)


def per_sample_ce(z, y):
    return F.cross_entropy(z, y, reduction='none')


def random_logits(num_students, batch=6, classes=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    logits = [3 * torch.randn(batch, classes, generator=g) for _ in range(num_students)]
    labels = torch.randint(classes, (batch,), generator=g)
    return logits, labels
