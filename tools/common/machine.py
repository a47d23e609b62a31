"""What a measurement ran on: stated beside every timing and every CPU accuracy."""

import os
import platform
from typing import Optional


def cpu_model() -> str:
    """The CPU's marketing name from /proc/cpuinfo (``platform`` elsewhere)."""
    try:
        with open('/proc/cpuinfo') as f:
            for line in f:
                if line.startswith('model name'):
                    return line.split(':', 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or 'unknown'


def load_average() -> list:
    return [round(x, 2) for x in os.getloadavg()]


def describe_machine(torch_threads: Optional[int] = None) -> dict:
    """CPU, cores, torch threads, GPU (if any), load and the versions of the stack."""
    import mmengine
    import torch

    info = dict(
        cpu=cpu_model(),
        cores=os.cpu_count(),
        torch_threads=torch_threads or torch.get_num_threads(),
        python=platform.python_version(),
        torch=torch.__version__,
        mmengine=mmengine.__version__,
        load=load_average(),
    )
    try:
        import mmpretrain

        info['mmpretrain'] = mmpretrain.__version__
    except ImportError:
        pass
    info['gpu'] = torch.cuda.get_device_name() if torch.cuda.is_available() else None
    return info
