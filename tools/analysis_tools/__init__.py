"""Measurement tools; run them as modules from the repository root, e.g.
``python -m tools.analysis_tools.benchmark_kdcl``."""
