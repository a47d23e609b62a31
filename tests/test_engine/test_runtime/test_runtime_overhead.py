"""What the shipped runtime adds to a training iteration, counted (not timed) through mmengine's
Runner on the MNIST and the ImageNet recipes.

The runtime is configs/_base_/exact_resume.py's hooks (RNG state, preemption, the divergence
guard, data faults) and the resumable loop's emergency checkpoint. Counted per iteration with
it and without it: the aten operators dispatched (each costs dispatch time on the host, which
is what a launch-bound GPU step waits for; one that computes also launches a kernel), and the
host reads (a call that waits for the device when its tensor is on one). Bounds: at most 5 %
of train_step's operators, at most one host read.
"""

import pytest
from mmengine.config import Config
from mmengine.hooks import Hook
from mmengine.runner import Runner

from tests.fixtures.photos import imagenet_folder
from tests.op_counts import AtenOps, HostReads
from tests.resume_utils import MNIST, tiny_mnist

RUNTIME_HOOKS = ('rng_state', 'preemption', 'divergence_guard', 'data_faults')
ITERATIONS = 4


class CountIterations(Hook):
    """Counts every iteration (the loop's run_iter: hooks, train_step, the emergency
    checkpoint's bookkeeping) and, apart, train_step."""

    def __init__(self):
        self.iterations, self.train_steps = [], []

    def before_train(self, runner) -> None:
        loop, model = runner.train_loop, runner.model
        run_iter, train_step = loop.run_iter, model.train_step

        def counted_iter(*args, **kwargs):
            with AtenOps() as ops, HostReads() as reads:
                run_iter(*args, **kwargs)
            self.iterations.append((ops.count, reads.count))

        def counted_step(*args, **kwargs):
            with AtenOps() as ops:
                out = train_step(*args, **kwargs)
            self.train_steps.append(ops.count)
            return out

        loop.run_iter, model.train_step = counted_iter, counted_step


def counts(cfg: Config, runtime: bool):
    """Per iteration after the first (which builds what later ones reuse): (aten ops, host
    reads, train_step's aten ops)."""
    cfg = cfg.copy()
    cfg.randomness = dict(seed=0)  # the same batches, distortions included, in both arms
    if not runtime:
        for name in RUNTIME_HOOKS:
            cfg.default_hooks.pop(name)
        cfg.train_cfg.emergency_checkpoint = False
    runner = Runner.from_cfg(cfg)
    counter = CountIterations()
    runner.register_hook(counter, 'HIGHEST')
    runner.train()
    assert len(counter.iterations) == ITERATIONS
    return [
        (sum(ops.values()), sum(reads.values()), sum(step.values()))
        for (ops, reads), step in zip(counter.iterations[1:], counter.train_steps[1:])
    ]


def mnist(work_dir):
    cfg = tiny_mnist(MNIST, num_labeled=8 * ITERATIONS)  # batch 8
    cfg.merge_from_dict(dict(work_dir=str(work_dir), train_cfg=dict(max_epochs=1)))
    return cfg


def imagenet(work_dir):
    # The recipe on a folder of real JPEGs in ImageNet's layout (8 photos, batch 2), its crop
    # made small: the counts do not depend on the resolution.
    data_root = imagenet_folder(work_dir / 'imagenet')
    cfg = Config.fromfile('configs/kdcl/r50_mbv2_imagenet.py')
    cfg.merge_from_dict(
        {
            'work_dir': str(work_dir),
            'train_dataloader.dataset.data_root': data_root,
            'val_dataloader.dataset.data_root': data_root,
            'train_dataloader.batch_size': 2,
            'train_dataloader.num_workers': 0,
            'train_cfg.max_epochs': 1,
            'train_cfg.val_interval': 10,
            'log_level': 'WARNING',
        }
    )
    cfg.train_dataloader.dataset.pipeline[1].transforms[0][0].scale = 64
    cfg.custom_hooks = []  # ExportStudentsHook: once, after training
    return cfg


@pytest.mark.slow
@pytest.mark.parametrize('recipe', [mnist, imagenet], ids=['mnist', 'imagenet'])
def test_the_shipped_runtime_adds_under_5_percent_of_the_ops_and_one_host_read(recipe, tmp_path):
    with_runtime = counts(recipe(tmp_path / 'with'), runtime=True)
    without = counts(recipe(tmp_path / 'without'), runtime=False)
    for (ops, reads, _), (bare_ops, bare_reads, train_step) in zip(with_runtime, without):
        added = ops - bare_ops
        print(
            f'{recipe.__name__}: +{added} ops, train_step {train_step}; +{reads - bare_reads} reads'
        )
        assert 0 < added <= 0.05 * train_step
        assert reads - bare_reads <= 1
