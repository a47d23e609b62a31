"""The embedded end-to-end demo (``python -m tools.demo.run_demo``, ``bash tools/run_demo.sh``)
and the val-only recipe search (``python -m tools.demo.recipe_search``); docs/demo.md maps the
modules. Nothing is imported here, so ``--help`` stays fast.
"""
