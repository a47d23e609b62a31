"""tools/analysis_tools/benchmark/report.py on hand-written reports: the targets, the GPU check's
rows, and the files it writes (without measuring anything)."""

import json

import pytest

from tools.analysis_tools.benchmark.report import (
    check_targets,
    format_gpu_check,
    write_gpu_check,
)

ARM = dict(median_ms=20.0, iqr_ms=1.0, images_per_s=3200.0, peak_mb=900.0, loss_scale=None)
GPU_REPORT = dict(
    settings=dict(
        dry=False,
        config='configs/kdcl/r50_mbv2_imagenet.py',
        generator='MinLogit',
        batch_size=64,
        image_size=224,
        warmup_steps=10,
        rounds=5,
        steps_per_round=4,
        lr=0.025,
        cuda='13.0',
        cudnn=91000,
        cudnn_allow_tf32=True,
        matmul_allow_tf32=False,
    ),
    machine=dict(gpu='H200', cpu='x', cores=16, torch='2.14.1', python='3.12', mmengine='0.10.7'),
    runs=[
        dict(
            mode='fp16',
            channels_last=True,
            status='ok',
            arms={'kdcl/MinLogit': dict(ARM, loss_scale=65536.0), 'solo/a': ARM},
            students_alone_ms=19.0,
            ratio=20.0 / 19.0,
            losses_finite=False,
            memory_kind='cuda max_memory_allocated',
        ),
        dict(mode='bf16', channels_last=False, status='error', reason='RuntimeError: boom'),
    ],
    passed=False,
    duration_s=12.5,
)


def test_gpu_check_rows_and_verdict():
    markdown = format_gpu_check(GPU_REPORT)
    assert '| fp16 | True | 20.0 | 3200 | 19.0 | 1.053 | 900 | NO | ok |' in markdown
    assert '| bf16 | False |  |  |  |  |  |  | error: RuntimeError: boom |' in markdown
    assert '|---|---|---:|---:|---:|---:|---:|---|---|' in markdown
    assert '- fp16, channels_last=True: kdcl/MinLogit 20.0 (1.0), 3200/s, 900 MB, scale 65536' in (
        markdown
    )
    assert 'Peak memory: cuda max_memory_allocated' in markdown
    assert markdown.endswith('Result: FAILED.\n')


def test_gpu_check_files_keep_an_earlier_report(tmp_path):
    paths = write_gpu_check(GPU_REPORT, str(tmp_path))
    assert json.loads(open(paths['json']).read()) == GPU_REPORT
    assert open(paths['markdown']).read() == format_gpu_check(GPU_REPORT)
    with pytest.raises(FileExistsError, match='gpu_check.json, .*gpu_check.md: pass --overwrite'):
        write_gpu_check(GPU_REPORT, str(tmp_path))


def test_targets_only_where_asked_and_the_pipeline_always():
    report = dict(
        ratios={'Mean': 1.02, 'Linear': 1.06},
        general_estimate=dict(fraction=0.015),
        pipeline=dict(bottleneck=False),
    )
    assert check_targets(report, {'Mean': 1.03, 'Linear': 1.05}, 0.02) == {
        'ratio Mean <= 1.03': True,
        'ratio Linear <= 1.05': False,
        'General estimate <= 2% of an epoch': True,
        'multi-view pipeline not the bottleneck': True,
    }
    assert check_targets(report, {}) == {'multi-view pipeline not the bottleneck': True}


LEAN_RUN = dict(
    GPU_REPORT['runs'][0],
    lean=dict(ARM, median_ms=25.0, peak_mb=600.0, time_ratio=1.25, memory_ratio=600 / 900),
)


def test_gpu_check_lean_table_beside_the_unchanged_rows():
    markdown = format_gpu_check(dict(GPU_REPORT, runs=[LEAN_RUN, GPU_REPORT['runs'][1]]))
    assert markdown.startswith(format_gpu_check(GPU_REPORT).split('\n\nPeak memory')[0])
    assert '| fp16 | True | 25.0 | 1.250 | 600 | 0.667 |' in markdown
    assert 'Lean mode (`model.lean=True`, MinLogit):' in markdown


MODES = {
    mode: dict(
        saved=s * 2**20,
        allocated=a * 2**20,
        saved_x_largest=s / 20,
        saved_x_sum=s / 30,
        allocated_x_largest=a / 20,
        allocated_x_sum=a / 40,
    )
    for mode, s, a in (('default', 30, 40), ('lean', 1, 22), ('a alone', 20, 20))
}
LEAN_REPORT = dict(
    settings=dict(batch_size=4, config='configs/kdcl/r50_mbv2_imagenet.py'),
    lean=dict(
        generator='MinLogit',
        default=dict(median_ms=100.0),
        lean=dict(median_ms=130.0),
        ratio=1.3,
        paired_ratio=dict(median=1.31, q1=1.29, q3=1.33),
    ),
    activation_memory=dict(
        batch_size=4,
        state_bytes=3 * 2**20,
        modes=MODES,
        estimated_max_batch={'24 GiB': dict(default=500, lean=900)},
        margin='10% of the memory + 1 GiB',
    ),
    loader=dict(
        photos=['a.jpg', 'b.jpg'],
        pipelines={
            '1 view': dict(ms_per_image=3.0, x_solo=1.0),
            '2 views, device': dict(
                ms_per_image=3.3, x_solo=1.1, device_ms_per_image=0.3, with_device_x_solo=1.2
            ),
        },
    ),
    peak_rss_mb=1234.4,
)


def test_lean_loader_and_rss_sections():
    from tools.analysis_tools.benchmark.report import lean_sections

    text = '\n'.join(lean_sections(LEAN_REPORT))
    assert 'lean / default **1.300** (per round 1.310, 1.290–1.330)' in text
    assert '| default | 30.0 | 1.50 | 1.00 | 40.0 | 2.00 | 1.00 |' in text
    assert '| lean | 1.0 | 0.05 | 0.03 | 22.0 | 1.10 | 0.55 |' in text
    assert '| default | 500 |' in text and '| lean | 900 |' in text
    assert 'ESTIMATED (not run)' in text and 'model state (parameters' in text
    assert '## Loader per view count (2 photos as 500x375 JPEGs)' in text
    assert '| 1 view | 3.00 | 1.00 |  |  |' in text
    assert '| 2 views, device | 3.30 | 1.10 | 0.30 | 1.20 |' in text
    assert 'Peak RSS of the process: 1234 MB.' in text


def test_activation_figure_is_a_png_per_mode(tmp_path):
    from tools.analysis_tools.benchmark.report import activation_figure

    figure = activation_figure(LEAN_REPORT)
    assert [t.get_text() for t in figure.axes[0].get_xticklabels()] == list(MODES)
    figure.savefig(tmp_path / 'a.png')
    assert (tmp_path / 'a.png').read_bytes()[:4] == b'\x89PNG'


def _shipped(step, it):
    summary = dict(median_ms=step, iqr_ms=0.5, q1_ms=step, q3_ms=step, n=4)
    return dict(
        train_step=summary,
        iteration=dict(summary, median_ms=it),
        iteration_over_train_step=it / step,
        losses_finite=True,
    )


ITERATION = dict(
    generator='MinLogit',
    arms={'kdcl/MinLogit': _shipped(20.0, 21.0), 'solo/a': _shipped(19.0, 20.0)},
    ratio=dict(train_step=20 / 19, iteration=21 / 20),
    paired_ratio=dict(
        train_step=dict(median=1.05, q1=1.04, q3=1.06),
        iteration=dict(median=1.05, q1=1.03, q3=1.07),
    ),
)


def test_gpu_check_iteration_lines_beside_the_unchanged_rows():
    run = dict(GPU_REPORT['runs'][0], iteration=ITERATION)
    markdown = format_gpu_check(dict(GPU_REPORT, runs=[run, GPU_REPORT['runs'][1]]))
    assert markdown.startswith(format_gpu_check(GPU_REPORT).split('\n\nPeak memory')[0])
    assert (
        '- fp16, channels_last=True: kdcl/MinLogit 20.0 → 21.0 (×1.050); solo/a 19.0 → 20.0 '
        '(×1.053); KDCL / Σ alone 1.053 → 1.050'
    ) in markdown


def test_overhead_iteration_section():
    from tools.analysis_tools.benchmark.report import iteration_section

    assert iteration_section({}) == []
    lines = iteration_section(dict(iteration=ITERATION))
    assert lines[0] == '## Training iteration as shipped (`train_loop.run_iter`)'
    assert '| kdcl/MinLogit | 20.0 | 21.0 | 0.5 | 1.050 |' in lines
    assert lines[-2] == (
        'KDCL / Σ alone (MinLogit): bare `train_step` **1.053** (per round 1.050, 1.040–1.060), '
        'iteration as shipped **1.050** (per round 1.050, 1.030–1.070).'
    )
