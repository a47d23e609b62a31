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
