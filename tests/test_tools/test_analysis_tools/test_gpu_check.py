"""tools/analysis_tools/gpu_check.py, the GPU check's command line: its refusals, before anything
is measured or imported from OpenMMLab."""

import pytest
import torch

from tools.analysis_tools import gpu_check


def test_refuses_an_existing_report_before_measuring(tmp_path, capsys):
    (tmp_path / 'gpu_check.md').write_text('earlier')
    assert gpu_check.main(['--dry', '--out-dir', str(tmp_path)]) == 2
    assert '--overwrite' in capsys.readouterr().err
    assert (tmp_path / 'gpu_check.md').read_text() == 'earlier'
    assert not (tmp_path / 'gpu_check.json').exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason='this machine has CUDA')
def test_without_cuda_it_stops_with_a_message(tmp_path, capsys):
    assert gpu_check.main(['--out-dir', str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert 'no CUDA device' in err and '--dry' in err
    assert list(tmp_path.iterdir()) == []


# ----------------------------------------------------------------- the arms beyond the modes
from tools.analysis_tools.benchmark import gpu_arms  # noqa: E402
from tools.analysis_tools.benchmark.settings import BenchmarkSettings  # noqa: E402


def test_arm_selection():
    args = gpu_check.parse_args(['--out-dir', 'x', '--arms', 'batch', 'equality'])
    assert args.arms == ['batch', 'equality']
    assert gpu_check.parse_args(['--out-dir', 'x']).arms is None  # main: ARMS, or DRY_ARMS
    assert 'compile' in gpu_arms.ARMS and 'compile' not in gpu_arms.DRY_ARMS
    with pytest.raises(SystemExit):
        gpu_check.parse_args(['--out-dir', 'x', '--arms', 'everything'])
    args = gpu_check.parse_args(['--out-dir', 'x', '--batch-sizes', '64', '512'])
    assert args.batch_sizes == [64, 512]


def fake_run(oom_at=256):
    """A run_mode that reports its settings, and runs out of memory at ``oom_at``."""
    seen = []

    def run_mode(mode):
        seen.append(mode)
        if mode.batch_size >= oom_at:
            raise torch.cuda.OutOfMemoryError('CUDA out of memory. Tried to allocate 2.00 GiB')
        if mode.batch_size == 128 and mode.amp == 'float16':
            raise RuntimeError('boom')
        return dict(batch=mode.batch_size)

    return run_mode, seen


def test_batch_sweep_reports_an_oom_per_run_and_goes_on():
    settings = BenchmarkSettings(config='c.py', device='cuda', batch_sizes=(64, 128, 256))
    run_mode, seen = fake_run()
    runs = gpu_arms.batch_sweep(settings, run_mode)
    assert [(r['mode'], r['batch_size'], r['status']) for r in runs] == [
        ('bf16', 64, 'ok'),
        ('bf16', 128, 'ok'),
        ('bf16', 256, 'oom'),
        ('fp16', 64, 'ok'),
        ('fp16', 128, 'error'),
        ('fp16', 256, 'oom'),
    ]
    assert 'out of memory' in runs[2]['reason'] and runs[4]['reason'] == 'RuntimeError: boom'
    assert all(m.channels_last and m.lean and not m.iteration for m in seen)
    assert {m.rounds for m in seen} == {gpu_arms.BUDGET['rounds']}  # the budget
    assert not gpu_arms.passed(dict(batch_sweep=runs))  # the error, not the OOMs
    assert gpu_arms.passed(dict(batch_sweep=[r for r in runs if r['status'] != 'error']))


def test_fused_and_compile_arms_change_only_their_option():
    settings = BenchmarkSettings(config='c.py', device='cuda', batch_size=64)
    run_mode, seen = fake_run()
    fused = gpu_arms.fused_sgd(settings, run_mode)
    assert [r['optimizer_options'] for r in fused] == [{}, dict(fused=True)]
    assert [m.optimizer_options for m in seen] == [{}, dict(fused=True)]
    assert [r['compile'] for r in gpu_arms.compiled(settings, run_mode)] == [False, True]
    assert [m.compile for m in seen[2:]] == [False, True]
    assert {m.amp for m in seen} == {'float16'}
    # On the CPU (the dry run) they run in fp32, and the sweep's AMP runs are skipped.
    cpu = BenchmarkSettings(config='c.py', device='cpu', batch_sizes=(4,), quick=True)
    assert gpu_arms.fused_sgd(cpu, run_mode)[0]['mode'] == 'fp32'
    assert {r['status'] for r in gpu_arms.batch_sweep(cpu, run_mode)} == {'skipped'}


def test_optimizer_options_reach_the_optimiser():
    from mmengine.config import Config

    from tools.analysis_tools.benchmark.step_overhead import optim_cfg

    cfg = Config(dict(optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1), paramwise_cfg={})))
    optim = optim_cfg(cfg, 'float16', solo=True, optimizer_options=dict(fused=True))
    assert optim['optimizer'] == dict(type='SGD', lr=0.1, fused=True)
    assert optim['type'] == 'AmpOptimWrapper' and 'paramwise_cfg' not in optim
    assert 'fused' not in cfg.optim_wrapper.optimizer


def test_view_distortion_equality_cpu_against_cpu():
    result = gpu_arms.view_distortion_equality('cpu', batch=4, size=16)
    assert result['equal'] and result['max_abs_diff'] == 0.0
    a = dict(x=torch.zeros(3))
    assert gpu_arms.compare(a, dict(x=torch.tensor([0.0, 0.5, 0.0]))) == dict(
        equal=False, max_abs_diff=0.5, differing=['x'], n=1
    )


@pytest.mark.slow
def test_lean_gradient_equality_on_the_cpu():
    from tools.analysis_tools.benchmark.run import load_kdcl_config
    from tools.analysis_tools.benchmark.settings import preset_settings

    settings = preset_settings('gpu_check', True)
    cfg = load_kdcl_config(settings.config)
    result = gpu_arms.lean_gradient_equality(cfg, settings)
    assert result['gradients']['equal'] and result['state']['equal'], result
    assert result['gradients']['n'] > 100
    assert not torch.are_deterministic_algorithms_enabled()  # put back


def test_report_rows_of_the_arms():
    from tools.analysis_tools.benchmark.report import gpu_arm_sections

    arm = dict(median_ms=40.0, images_per_s=3200.0, peak_mb=9000.0)
    ok = dict(
        mode='bf16',
        batch_size=128,
        status='ok',
        arms={'kdcl/MinLogit': arm},
        lean=dict(images_per_s=2000.0),
        ratio=1.01,
        losses_finite=True,
    )
    oom = dict(mode='bf16', batch_size=256, status='oom', reason='OutOfMemoryError: CUDA out')
    fused = dict(ok, optimizer_options=dict(fused=True), batch_size=None, lean={})
    report = dict(
        settings=dict(generator='MinLogit'),
        batch_sweep=[ok, oom],
        fused_sgd=[fused],
        equality=dict(
            lean_gradients=dict(
                status='ok',
                steps=3,
                gradients=dict(equal=True, max_abs_diff=0.0),
                state=dict(equal=True, max_abs_diff=0.0),
            ),
            view_distortion=dict(status='error', reason='RuntimeError: x'),
        ),
    )
    lines = gpu_arm_sections(report)
    assert (
        '| batch sweep, channels_last | bf16 | 128 | 40.0 | 3200 | 2000 | 1.010 | 9000 | ok |'
        in (lines)
    )
    assert (
        '| batch sweep, channels_last | bf16 | 256 |  |  |  |  |  | '
        'oom: OutOfMemoryError: CUDA out |' in lines
    )
    assert '| SGD fused=True | bf16 | None | 40.0 | 3200 |  | 1.010 | 9000 | ok |' in lines
    assert lines[-2].startswith(
        '- lean vs default after 3 steps, deterministic algorithms: gradients equal'
    )
    assert lines[-1] == '- apply_view_distortion: error: RuntimeError: x'
    assert gpu_arm_sections(dict(settings=dict(generator='MinLogit'))) == []
