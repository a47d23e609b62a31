"""Fixtures for what many tests build: the repository root, tiny students, a tiny KDCL, a
multi-view batch. Layout and naming rules: tests/README.md."""

import copy
import faulthandler
import os
import sys
import threading

import pytest
import torch

from tests.paths import REPO
from tests.tiny import MNIST_COCO_SMALL, tiny_mobilenet_v2, tiny_resnet

# Two BLAS threads per test process (the machine has 2 cores; subprocess tests inherit it).
os.environ.setdefault('OMP_NUM_THREADS', '2')

#: Seconds pytest may take to exit after its summary before the watchdog ends it.
EXIT_GRACE_S = float(os.environ.get('KDCL_TEST_EXIT_GRACE_S', 300))


def pytest_unconfigure(config):
    """Once the session has ended, a process that does not exit (a child it waits for at
    exit: the suite once hung after '752 passed' until CI's time ran out) fails with the
    stacks of its threads and its child processes, instead of running on silently."""

    def report_and_exit():
        import multiprocessing

        children = multiprocessing.active_children()
        names = [f'{p.name} (pid {p.pid})' for p in children]
        print(
            f'\npytest did not exit {EXIT_GRACE_S} s after the session ended; live child '
            f'processes (now killed): {names or "none"}. Stacks of its threads:',
            file=sys.stderr,
            flush=True,
        )
        faulthandler.dump_traceback(file=sys.stderr, all_threads=True)
        for child in children:  # an orphan would hold CI's output pipe open
            child.kill()
        os._exit(3)

    watchdog = threading.Timer(EXIT_GRACE_S, report_and_exit)
    watchdog.daemon = True  # daemon threads keep running through the atexit functions
    watchdog.start()


@pytest.fixture(autouse=True)
def _kdcl_mm_scope():
    """Build modules in kdcl_mm's scope, as a Runner with the recipes' default_scope would."""
    from mmengine.registry import DefaultScope, init_default_scope

    import kdcl_mm  # noqa: F401

    init_default_scope('kdcl_mm')
    yield
    DefaultScope._instance_dict.pop('kdcl_mm', None)


@pytest.fixture
def repo_root() -> str:
    return REPO


@pytest.fixture
def tiny_students():
    """Two heterogeneous student configs (ResNet-18 width 8, MobileNetV2 ×0.25), 10 classes."""
    return [tiny_resnet(), tiny_mobilenet_v2()]


@pytest.fixture
def build_tiny_kdcl(tiny_students):
    """``build(**kdcl_fields)``: a KDCL of the tiny students, built under seed 0."""
    from kdcl_mm.registry import MODELS

    def build(students=None, **kwargs):
        cfg = dict(type='KDCL', students=copy.deepcopy(students or tiny_students))
        cfg.update(kwargs)
        torch.manual_seed(0)
        return MODELS.build(cfg)

    return build


@pytest.fixture
def multi_view_batch():
    """``make(n=4, num_views=2, size=32, num_classes=10, seed=0)``: (views, data_samples)."""
    from mmpretrain.structures import DataSample

    def make(n=4, num_views=2, size=32, num_classes=10, seed=0):
        g = torch.Generator().manual_seed(seed)
        views = [torch.randn(n, 3, size, size, generator=g) for _ in range(num_views)]
        samples = [DataSample().set_gt_label(i % num_classes) for i in range(n)]
        return views, samples

    return make


@pytest.fixture(scope='session')
def make_mnist_coco(tmp_path_factory):
    """``make(**generate_mnist_coco_kwargs) -> folder``: MNIST-COCO canvases (real digits),
    generated once per distinct settings for the whole session; treat the folder as read-only."""
    from tools.dataset_converters.mnist_coco import generate_mnist_coco

    made = {}

    def make(**settings):
        settings = dict(dict(progress=False), **settings)
        key = tuple(sorted(settings.items()))
        if key not in made:
            root = str(tmp_path_factory.mktemp('mnist_coco')) + '/'
            generate_mnist_coco(root, **settings)
            made[key] = root
        return made[key]

    return make


@pytest.fixture(scope='session')
def mnist_coco(make_mnist_coco):
    """:data:`MNIST_COCO_SMALL` canvases: 6 train, 3 val, 3 test, 64×64."""
    return make_mnist_coco(**MNIST_COCO_SMALL)
