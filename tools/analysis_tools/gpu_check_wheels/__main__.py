"""``python -m tools.analysis_tools.gpu_check_wheels``: see the package's docstring."""

from . import main

main()
