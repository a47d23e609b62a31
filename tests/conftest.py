import os

import pytest

# Tests run single-threaded BLAS-wise by default so two test processes do not thrash 2 cores.
os.environ.setdefault('OMP_NUM_THREADS', '2')


@pytest.fixture(autouse=True)
def _mmpretrain_scope():
    """Build modules in mmpretrain's scope, as a Runner with its default_scope would."""
    from mmengine.registry import DefaultScope, init_default_scope

    import kdcl_mm  # noqa: F401

    init_default_scope('mmpretrain')
    yield
    DefaultScope._instance_dict.pop('mmpretrain', None)
