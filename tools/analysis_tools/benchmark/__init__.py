"""What KDCL costs over training its students alone, measured in one process.

:func:`run_benchmark` times mmengine's full ``model.train_step(data, optim_wrapper)``
(preprocessing, forward, backward, optimiser step) of a KDCL model per soft-target
generator and of each student alone as an mmpretrain ``ImageClassifier`` on the same
batches. The arms run round-robin, several rounds, warm-up excluded, so machine noise
hits them alike. It also times the training data pipeline with one view per student
(``MultiView``) against one view, and General's weight estimation over a held-out split
as a fraction of an epoch. :func:`write_report` saves JSON and a markdown table.

Modules: ``presets`` (settings), ``synthetic_data`` and ``config_data`` (batches),
``arms`` (models, round-robin), ``timing``, ``memory``, ``general``, ``report``, ``run``.
"""

from .config_data import single_view_pipeline
from .presets import GENERATORS, BenchmarkSettings, preset_settings
from .report import check_out_dir, format_markdown, write_report
from .run import run_benchmark
from .synthetic_data import SyntheticImages, synthetic_batch
from .timing import ms_summary, overhead_ratios, paired_ratios

__all__ = [
    'GENERATORS',
    'BenchmarkSettings',
    'SyntheticImages',
    'check_out_dir',
    'format_markdown',
    'ms_summary',
    'overhead_ratios',
    'paired_ratios',
    'preset_settings',
    'run_benchmark',
    'single_view_pipeline',
    'synthetic_batch',
    'write_report',
]
