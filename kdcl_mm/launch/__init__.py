"""What the entry scripts ``tools/train.py`` and ``tools/test.py`` share.

This is launcher plumbing, not part of the method, and ``import kdcl_mm`` does not import it.
It is installed with the package rather than kept in ``tools/`` because the entry scripts run
as scripts (``python tools/train.py``, also from ``dist_train.sh`` and ``slurm_train.sh``):
Python then puts ``tools/`` itself, not the repository root, on ``sys.path``, so the scripts can
import only installed packages, as mmpretrain's own ``tools/train.py`` does. Nothing in kdcl_mm
imports this package (``tests/test_layout.py``).

* :mod:`.entry`: the shared command-line options, config loading and the overwrite refusal;
* :mod:`.dist_env`: the distributed set-up, on GPUs or (without CUDA) on CPU.
"""
