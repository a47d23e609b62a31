"""The embedded end-to-end demo's report: tables, verdicts and plots from the runs' logs.

Not imported by ``import kdcl_mm`` (it registers nothing and pulls in matplotlib).
"""
from .report import build_report, render_markdown, report_from_manifest, write_report
from .scalars import load_scalars, metric_curve
from .stats import compare, summarize

__all__ = ['build_report', 'render_markdown', 'report_from_manifest', 'write_report',
           'load_scalars', 'metric_curve', 'compare', 'summarize']
