"""tools/analysis_tools/benchmark/iteration.py: the Runner-built arms run the loop's own
``run_iter`` with the recipe's runtime (its hooks, the emergency bookkeeping), leave no global
state or memory behind, and the report's arithmetic. Operators are counted, nothing is timed."""

import signal
import weakref

import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode

import kdcl_mm  # noqa: F401
from kdcl_mm.engine.runtime.resumable_loop import ResumableEpochBasedTrainLoop
from tools.analysis_tools.benchmark import iteration, step_overhead
from tools.analysis_tools.benchmark.data import BenchmarkData
from tools.analysis_tools.benchmark.run import load_kdcl_config
from tools.analysis_tools.benchmark.settings import preset_settings

RUNTIME_HOOKS = {'RNGStateHook', 'PreemptionHook', 'DivergenceGuardHook', 'DataFaultHook'}


def test_report_divides_the_iterations_as_the_steps():
    times = {
        'kdcl/Mean': [3.0, 3.0],
        'solo/a': [1.0, 1.0],
        'solo/b': [1.0, 1.0],
        'iter/kdcl/Mean': [3.3, 3.3],
        'iter/solo/a': [1.5, 1.5],
        'iter/solo/b': [1.5, 1.5],
    }
    finite = {'iter/kdcl/Mean': True, 'iter/solo/a': True, 'iter/solo/b': False}
    report = iteration.iteration_report(times, 'Mean', ['a', 'b'], rounds=2, finite=finite)
    assert report['ratio'] == pytest.approx(dict(train_step=1.5, iteration=1.1))
    assert report['paired_ratio']['iteration']['median'] == pytest.approx(1.1)
    assert report['arms']['solo/a']['iteration_over_train_step'] == pytest.approx(1.5)
    assert report['arms']['solo/b']['losses_finite'] is False
    assert list(report['arms']) == ['kdcl/Mean', 'solo/a', 'solo/b']


def test_the_recipes_own_generator_is_measured_when_it_can_be():
    cfg = load_kdcl_config('configs/kdcl/resnet18-w16_mbv2-w0.5_mnist.py')  # Linear
    assert iteration.iteration_generator(cfg, ('Naive', 'Linear')) == 'Linear'
    assert iteration.iteration_generator(cfg, ('Mean',)) == 'Mean'


class AtenOps(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.count = 0

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        self.count += 1
        return func(*args, **(kwargs or {}))


@pytest.fixture(scope='module')
def runners():
    settings = preset_settings('small', quick=True, threads=1, generators=('Linear',))
    cfg = load_kdcl_config(settings.config)
    handlers = {s: signal.getsignal(s) for s in iteration.SIGNALS}
    cudnn = torch.backends.cudnn.benchmark
    arms, _ = step_overhead.build_arms(cfg, settings)
    data = BenchmarkData(cfg, settings, arms[0].model.num_classes)
    batches = data.first_batches(data.dataset(data.train_pipeline), 2)
    built, _, scratch = iteration.build_iteration_arms(cfg, settings, batches)
    yield dict(
        built=built, bare=arms, batches=batches, scratch=scratch, handlers=handlers, cudnn=cudnn
    )
    scratch.cleanup(built)


@pytest.mark.slow
def test_runner_arms_run_the_loops_iteration_with_the_runtime(runners):
    built, bare, batches = runners['built'], runners['bare'], runners['batches']
    assert [a.name for a in built] == [
        'iter/kdcl/Linear',
        'iter/solo/resnet18',
        'iter/solo/mobilenet_v2',
    ]
    for arm in built:
        runner = arm.runner
        assert isinstance(runner.train_loop, ResumableEpochBasedTrainLoop)
        assert runner.train_loop.emergency.enabled
        hooks = {type(h).__name__ for h in runner.hooks}
        assert hooks >= RUNTIME_HOOKS
        assert '_StopAtFirstIteration' not in hooks
        assert 'run_iter' not in vars(runner.train_loop)  # the loop's own method
        assert ('ExportStudentsHook' in hooks) == arm.name.startswith('iter/kdcl/')
        assert runner.iter == 0
    # One iteration per Runner-built arm against one bare train_step of the same model:
    # the iteration dispatches more operators (the runtime's), counted, not timed.
    by_name = {a.name: a for a in bare}
    for arm in built:
        with AtenOps() as it:
            arm.timed_step(batches[0], 'cpu')
        with AtenOps() as step:
            by_name[arm.name[len('iter/') :]].timed_step(batches[0], 'cpu')
        assert it.count > step.count, arm.name
        assert arm.runner.iter == 1 and arm.finite
        assert 'loss' in arm.last_losses


@pytest.mark.slow
def test_cleanup_puts_the_signal_handlers_back_and_frees_the_models(runners):
    built = runners['built']
    assert signal.getsignal(signal.SIGTERM) != runners['handlers'][signal.SIGTERM]
    refs = [weakref.ref(a.model) for a in built]
    runners['scratch'].cleanup(built)
    assert built == []
    assert all(r() is None for r in refs)
    for s, handler in runners['handlers'].items():
        assert signal.getsignal(s) == handler
    assert torch.backends.cudnn.benchmark == runners['cudnn']


def test_the_loaders_batches_are_the_ones_given():
    batches = [dict(inputs=torch.zeros(1), data_samples=[i]) for i in range(3)]
    loader = iteration._loader(batches)
    assert [b['data_samples'] for b in loader] == [[0], [1], [2]]
    assert len(loader) == 3 and hasattr(loader.batch_sampler, 'sampler')
