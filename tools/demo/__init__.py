"""The embedded end-to-end demo (docs/demo.md), run from the repository root as
``python -m tools.demo.run_demo`` (``bash tools/run_demo.sh``), and the val-only recipe search
``python -m tools.demo.recipe_search``.

Modules, in an order where each imports only modules before it: ``settings`` (configs, modes,
budgets, file names), ``sweep`` (jobs, the subprocess launcher, skip-if-finished),
``comparison`` (paired KDCL-vs-solo statistics and verdicts), ``plots`` (figures),
``report_build`` (the report's numbers and figure data, read from the runs), ``report_render``
(its Markdown and figures), ``pipeline`` (the demo's chain of runs, whose report
:func:`tools.common.report.write_report` writes), ``run_demo`` (its command line),
``recipe_table`` and ``recipe_search`` (the search, its val table and General's weightings).
Nothing is imported here, so ``--help`` stays fast.
"""
