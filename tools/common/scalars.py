"""Read the curves that mmengine's LocalVisBackend writes to ``vis_data/scalars.json``."""

import json
import os
import os.path as osp
from typing import Dict, List, Optional, Tuple


def find_scalars(work_dir: str) -> Optional[str]:
    """A run's ``<timestamp>/vis_data/scalars.json`` (the newest, if it ran several times)."""
    if not osp.isdir(work_dir):
        return None
    found = sorted(
        osp.join(work_dir, d, 'vis_data', 'scalars.json')
        for d in os.listdir(work_dir)
        if osp.isfile(osp.join(work_dir, d, 'vis_data', 'scalars.json'))
    )
    return found[-1] if found else None


def load_scalars(path: str) -> List[dict]:
    """The records of a ``scalars.json`` file (one JSON object per line)."""
    records = []
    with open(path) as f:
        for line_no, line in enumerate(f, 1):
            if not line.strip():
                continue
            try:
                records.append(json.loads(line))
            except json.JSONDecodeError as err:
                raise ValueError(
                    f'{path}, line {line_no}: not a JSON record ({err}); '
                    'expected the scalars.json of an mmengine run.'
                ) from err
    return records


def metric_curve(records: List[dict], key: str, x: str = 'step') -> Tuple[List[int], List[float]]:
    """``(x values, values)`` of every record holding ``key``, sorted by ``x``.

    Validation records carry ``step`` = the epoch (epoch-based loops) and no ``iter``;
    training records carry ``step`` = the iteration and ``epoch``. A repeated ``x`` (a
    resumed run, or several training logs in one epoch) keeps the later value.
    """
    by_step: Dict[int, float] = {}
    for record in records:
        if key in record and x in record:
            by_step[int(record[x])] = float(record[key])
    steps = sorted(by_step)
    return steps, [by_step[s] for s in steps]


def general_weights(records: List[dict], students: Optional[List[str]] = None) -> Dict[str, tuple]:
    """``{student: (epochs, weights)}`` that GeneralWeightsHook logged (as
    ``general_weight/<student>`` each epoch): of ``students``, or of every student logged."""
    prefix = 'general_weight/'
    if students is None:
        students = sorted({k[len(prefix) :] for r in records for k in r if k.startswith(prefix)})
    return {name: metric_curve(records, prefix + name, x='epoch') for name in students}
