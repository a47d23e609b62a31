"""The one report writer of tools/: a JSON file, its Markdown and any PNG figures in one folder.

Every tool that reports (the benchmark and its GPU check, the demo, the recipe search) builds
a JSON-ready dict, renders Markdown from it, and hands both to :func:`write_report`. The
overwrite rule is :func:`kdcl_mm.utils.overwrite_guard.refuse_overwrite`'s: an earlier report
is replaced only when asked. :func:`check_out_dir` applies it before a tool spends minutes
measuring; :func:`md_table` is the Markdown table every report uses.
"""

import json
import os
import os.path as osp
from typing import Dict, Mapping, Optional, Sequence

from kdcl_mm.utils.overwrite_guard import refuse_overwrite


def check_out_dir(
    out_dir: str, names: Sequence[str], overwrite: bool = False, flag: str = '--overwrite'
) -> Dict[str, str]:
    """``{name: path}`` in ``out_dir``; refuses a file as ``out_dir``, and any of ``names``
    already there unless ``overwrite`` (the error names them and ``flag``)."""
    if osp.exists(out_dir) and not osp.isdir(out_dir):
        raise NotADirectoryError(f'--out-dir {out_dir} is a file; choose a directory.')
    paths = {name: osp.join(out_dir, name) for name in names}
    refuse_overwrite(paths.values(), overwrite, flag)
    return paths


def write_report(
    out_dir: str,
    names: Sequence[str],
    report: dict,
    markdown: str,
    figures: Optional[Mapping[str, object]] = None,
    overwrite: bool = False,
    flag: str = '--overwrite',
) -> Dict[str, str]:
    """Write ``report`` as JSON to ``names[0]``, ``markdown`` to ``names[1]`` and each matplotlib
    figure of ``figures`` (file name -> figure) as PNG, all in ``out_dir``.

    Refuses, before writing anything, to replace any of them unless ``overwrite``. Returns
    ``dict(json=path, markdown=path)`` plus ``{figure file name: path}``.
    """
    figures = dict(figures or {})
    json_name, markdown_name = names
    paths = check_out_dir(out_dir, [json_name, markdown_name, *figures], overwrite, flag)
    os.makedirs(out_dir, exist_ok=True)
    with open(paths[json_name], 'w') as f:
        json.dump(report, f, indent=2)
    with open(paths[markdown_name], 'w') as f:
        f.write(markdown)
    for name, figure in figures.items():
        figure.savefig(paths[name])  # at the figure's own dpi
        pyplot().close(figure)
    written = dict(json=paths[json_name], markdown=paths[markdown_name])
    written.update({name: paths[name] for name in figures})
    return written


def pyplot():
    """``matplotlib.pyplot`` on the Agg backend (no display needed), imported only by the tools
    that draw a figure."""
    import matplotlib

    matplotlib.use('Agg')
    import matplotlib.pyplot as plt

    return plt


def md_table(
    header: Sequence[str], rows: Sequence[Sequence[object]], align: Optional[str] = None
) -> list:
    """The lines of a Markdown table; ``align`` holds one character per column, ``'l'`` or
    ``'r'`` (default: all left)."""
    align = align or 'l' * len(header)
    lines = ['| ' + ' | '.join(header) + ' |']
    lines.append('|' + '|'.join('---:' if a == 'r' else '---' for a in align) + '|')
    lines += ['| ' + ' | '.join(str(cell) for cell in row) + ' |' for row in rows]
    return lines
