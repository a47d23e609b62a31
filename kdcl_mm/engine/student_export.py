"""Split a KDCL checkpoint into one standalone mmpretrain ``ImageClassifier`` per student.

Each student ``i`` is written to ``<out_dir>/<name>.pth``::

    {'state_dict': {backbone.*, neck.*, head.*},
     'meta': {'source': <KDCL checkpoint>, 'student': name, 'index': i,
              'model': <the student's model config>, 'cfg': <mmpretrain config text>}}

holding only tensors and builtins (``torch.load(weights_only=True)`` reads it), plus the
config text as ``<name>.py``: the source config's test/val data and runtime with the
student as the model, so ``tools/test.py <name>.py <name>.pth`` evaluates it alone.
Downstream detectors and segmentors load ``backbone.*`` with
``init_cfg=dict(type='StrictPretrained', checkpoint=<name>.pth, prefix='backbone.')``.
"""

import copy
import os
import os.path as osp
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence, Tuple, Union

import torch
from mmengine.config import Config, ConfigDict
from mmengine.logging import print_log
from mmengine.runner.checkpoint import _load_checkpoint, save_checkpoint
from mmengine.utils import track_iter_progress

from kdcl_mm.models.classifiers import resolve_students
from kdcl_mm.utils.overwrite_guard import refuse_overwrite

StudentRef = Union[int, str]
STUDENT_PREFIX = 'students.'
# Top-level config fields an exported test config leaves out: those for training the KDCL
# model, and the preprocessor, which moves into the student's model config.
DROPPED_FIELDS = (
    'train_dataloader',
    'train_cfg',
    'optim_wrapper',
    'param_scheduler',
    'auto_scale_lr',
    'custom_hooks',
    'resume',
    'load_from',
    'work_dir',
    'launcher',
    'data_preprocessor',
)
# KDCL-only types and the single-model type that replaces each in an exported config.
SINGLE_MODEL_TYPES = {
    'MultiViewClsDataPreprocessor': 'ClsDataPreprocessor',
    'KDCLAccuracy': 'Accuracy',
}


@dataclass
class KDCLCheckpoint:
    """A loaded KDCL checkpoint: its state dict, training config and named students."""

    path: str
    state_dict: Dict[str, torch.Tensor]
    cfg: Config
    students: List[Tuple[str, dict]]

    @property
    def names(self) -> List[str]:
        return [name for name, _ in self.students]


def load_kdcl_checkpoint(path: str) -> KDCLCheckpoint:
    """Load a Runner checkpoint of a KDCL model, with its students resolved from ``meta.cfg``."""
    # Missing and truncated files raise clear errors in kdcl_mm's checkpoint loader.
    checkpoint = _load_checkpoint(path, map_location='cpu')
    state_dict = checkpoint.get('state_dict') if isinstance(checkpoint, dict) else None
    has_students = isinstance(state_dict, dict) and any(
        k.startswith(STUDENT_PREFIX) for k in state_dict
    )
    if not has_students:
        found = sorted({k.split('.')[0] for k in (state_dict or {})})
        raise ValueError(
            f'{path} is not a KDCL checkpoint: its state_dict has no "{STUDENT_PREFIX}*" keys '
            f'(top-level modules found: {found or "none"}). Give a checkpoint saved while '
            "training a model of type='KDCL'."
        )
    cfg_text = (checkpoint.get('meta') or {}).get('cfg')
    if not isinstance(cfg_text, str) or not cfg_text.strip():
        raise ValueError(
            f"{path} has no training config in meta['cfg'], which names the students and "
            "holds their model configs. Use a checkpoint saved by mmengine's Runner "
            '(CheckpointHook) from a KDCL config.'
        )
    cfg = Config.fromstring(cfg_text, '.py')
    students = resolve_students(cfg.model.students)
    in_state = {int(k.split('.')[1]) for k in state_dict if k.startswith(STUDENT_PREFIX)}
    if in_state != set(range(len(students))):
        raise ValueError(
            f"{path}: meta['cfg'] names {len(students)} students but the state_dict holds "
            f'students {sorted(in_state)}; the checkpoint and its config disagree.'
        )
    return KDCLCheckpoint(path, state_dict, cfg, students)


def select_students(
    names: Sequence[str], wanted: Optional[Sequence[StudentRef]] = None
) -> List[int]:
    """Indices of ``wanted`` (indices, names, or digit strings as given on a command line)."""
    if wanted is None:
        return list(range(len(names)))
    valid = ', '.join(f'{i}: {n}' for i, n in enumerate(names))
    indices = []
    for ref in wanted:
        if isinstance(ref, str) and ref in names:
            index = names.index(ref)
        elif isinstance(ref, int) or (isinstance(ref, str) and ref.lstrip('-').isdigit()):
            index = int(ref)
            if not 0 <= index < len(names):
                raise ValueError(f'student index {index} does not exist; valid students: {valid}')
        else:
            raise ValueError(f'no student named {ref!r}; valid students: {valid}')
        if index not in indices:
            indices.append(index)
    return indices


def student_state_dict(state_dict: Dict[str, torch.Tensor], index: int) -> Dict[str, torch.Tensor]:
    """The ``students.{index}.*`` tensors, with that prefix removed."""
    prefix = f'{STUDENT_PREFIX}{index}.'
    return {k[len(prefix) :]: v for k, v in state_dict.items() if k.startswith(prefix)}


def student_model_cfg(kdcl_cfg: Config, model_cfg: dict) -> dict:
    """The student's config with the KDCL model's normalisation as its own preprocessor."""
    preprocessor = kdcl_cfg.model.get('data_preprocessor') or kdcl_cfg.get('data_preprocessor')
    model = copy.deepcopy(model_cfg)
    if preprocessor:
        model['data_preprocessor'] = _single_model(_plain(preprocessor))
    return model


def student_config(kdcl_cfg: Config, model_cfg: dict, checkpoint_path: str) -> Config:
    """A test-ready mmpretrain config: the KDCL config's evaluation and runtime, one student."""
    fields = {k: v for k, v in _plain(kdcl_cfg).items() if k not in DROPPED_FIELDS}
    for key in ('val_evaluator', 'test_evaluator'):
        if fields.get(key):
            fields[key] = _single_model(fields[key])
    fields['model'] = model_cfg
    fields['load_from'] = checkpoint_path
    return Config(fields)


def export_students(
    checkpoint: str,
    out_dir: str,
    students: Optional[Sequence[StudentRef]] = None,
    overwrite: bool = False,
) -> List[str]:
    """Write ``<out_dir>/<name>.pth`` and ``<name>.py`` for each selected student.

    Args:
        checkpoint: a KDCL Runner checkpoint.
        out_dir: output folder, created if needed.
        students: indices or names to export; all when None.
        overwrite: replace existing outputs instead of refusing.

    Returns:
        The paths of the written ``.pth`` files, in the order of ``students``.
    """
    kdcl = load_kdcl_checkpoint(checkpoint)
    indices = select_students(kdcl.names, students)
    outputs = [osp.join(out_dir, kdcl.names[i] + ext) for i in indices for ext in ('.pth', '.py')]
    refuse_overwrite(outputs, overwrite, flag='overwrite=True (--overwrite)')
    os.makedirs(out_dir, exist_ok=True)

    written = []
    for index in track_iter_progress(indices):
        name, model_cfg = kdcl.students[index]
        path = osp.join(out_dir, f'{name}.pth')
        model = student_model_cfg(kdcl.cfg, model_cfg)
        cfg = student_config(kdcl.cfg, model, path)
        meta = dict(source=checkpoint, student=name, index=index, model=model, cfg=cfg.pretty_text)
        save_checkpoint(
            dict(state_dict=student_state_dict(kdcl.state_dict, index), meta=meta), path
        )
        cfg.dump(osp.join(out_dir, f'{name}.py'))
        print_log(f'student {index} ({name}) -> {path}', logger='current')
        written.append(path)
    return written


def _single_model(cfg):
    """Replace KDCL-only types (preprocessor, metric) with their single-model counterparts."""
    if isinstance(cfg, list):
        return [_single_model(c) for c in cfg]
    cfg = dict(cfg)
    kind = str(cfg.get('type')).split('.')[-1]
    if kind in SINGLE_MODEL_TYPES:
        cfg['type'] = SINGLE_MODEL_TYPES[kind]
        if kind == 'KDCLAccuracy':  # Accuracy has no per-student options to carry over
            cfg = {k: v for k, v in cfg.items() if k in ('type', 'topk', 'prefix')}
    return cfg


def _plain(cfg) -> dict:
    """ConfigDict -> builtins, so that checkpoints load with ``weights_only=True``."""
    if isinstance(cfg, Config):
        cfg = cfg.to_dict()
    if isinstance(cfg, ConfigDict):
        cfg = cfg.to_dict()
    return copy.deepcopy(cfg)
