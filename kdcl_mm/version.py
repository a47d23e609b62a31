"""The one place the version lives (pyproject.toml reads it; ``kdcl_mm.__version__`` too)."""

__version__ = '0.2.0'
