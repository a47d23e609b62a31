"""The demo report's files: their names, and writing / reading them.

``write_report`` writes ``report.json`` (:func:`tools.demo.report_data.build_report`),
``report.md`` (:func:`tools.demo.report_markdown.render_markdown`) and the PNG plots.
"""

import json
import os.path as osp
from typing import Dict, List, Optional

REPORT_JSON, REPORT_MD, GENERAL_WEIGHTS_PNG = 'report.json', 'report.md', 'general_weights.png'


def val_curves_png(student: str) -> str:
    return f'val_curves_{student}.png'


def report_files(students: List[str]) -> List[str]:
    """Every file :func:`write_report` may write for these students, relative to its root."""
    return [REPORT_JSON, REPORT_MD, GENERAL_WEIGHTS_PNG, *map(val_curves_png, students)]


def write_report(manifest: dict, root: str) -> Dict[str, str]:
    """Write ``report.json``, ``report.md`` and the plots into ``root``; return their paths."""
    from .report_data import build_report  # matplotlib: only when a report is written
    from .report_markdown import render_markdown

    report = build_report(manifest, root)
    paths = dict(json=osp.join(root, REPORT_JSON), markdown=osp.join(root, REPORT_MD))
    with open(paths['json'], 'w') as f:
        json.dump(report, f, indent=2)
    with open(paths['markdown'], 'w') as f:
        f.write(render_markdown(report))
    paths.update({key: osp.join(root, path) for key, path in report['plots'].items()})
    return paths


def load_manifest(path: str) -> dict:
    with open(path) as f:
        return json.load(f)


def report_from_manifest(manifest_path: str, root: Optional[str] = None) -> Dict[str, str]:
    """:func:`write_report` for a ``manifest.json``, into its folder by default."""
    return write_report(load_manifest(manifest_path), root or osp.dirname(manifest_path))
