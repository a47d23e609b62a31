"""The embedded end-to-end demo (docs/demo.md), run from the repository root as
``python -m tools.demo.run_demo`` (``bash tools/run_demo.sh``), and the val-only recipe search
``python -m tools.demo.recipe_search``.

Modules: ``settings`` (configs, modes, budgets), ``runs`` (the subprocess launcher),
``pipeline`` (the chain of runs), ``comparison`` (paired KDCL-vs-solo statistics and
verdicts), ``report_data`` / ``report_markdown`` / ``report_files`` (the report's numbers,
its markdown, its files), ``plots`` (PNG figures), ``recipe_search`` / ``recipe_table`` (the
search and its val table). Nothing is imported here, so ``--help`` stays fast.
"""

__all__ = [
    'comparison',
    'pipeline',
    'plots',
    'recipe_search',
    'recipe_table',
    'report_data',
    'report_files',
    'report_markdown',
    'run_demo',
    'runs',
    'settings',
]
