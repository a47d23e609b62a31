"""The embedded MNIST recipe's configs, which the demo, the recipe search and the fault
injection train through :mod:`tools.common.sweep` (paths relative to :data:`REPO`)."""

import os.path as osp
from typing import Dict

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
KDCL_CONFIG = 'configs/kdcl/resnet18-w16_mbv2-w0.5_mnist.py'
SOLO_CONFIGS = {
    'resnet18': 'configs/baselines/resnet18-w16_mnist.py',
    'mobilenet_v2': 'configs/baselines/mobilenet_v2-w0.5_mnist.py',
}
# The recipe's configs of the generators: this stem plus the short name in lower case.
GENERATOR_CONFIG = 'configs/kdcl/resnet18-w16_mbv2-w0.5_mnist_{}.py'


def generator_configs() -> Dict[str, str]:
    """Short name -> recipe config, for every generator of kdcl_mm.models.soft_targets."""
    from kdcl_mm.models.soft_targets import GENERATORS  # here: --help need not import torch

    return {name: GENERATOR_CONFIG.format(name.lower()) for name in GENERATORS}
