"""Resolve the ``students`` field of a KDCL config into named classifier configs.

Shared by the KDCL model and the export tool so both name students identically.
"""

import copy
import re
from typing import List, Tuple, Union

from mmengine.config import ConfigDict

StudentSpec = Union[str, dict]
# Fields that belong to the KDCL model, not to a student: a student's own copy would be
# silently unused, so it is rejected instead.
_KDCL_OWNED = ('data_preprocessor', 'train_cfg')


def _load_packaged_model(path: str) -> dict:
    from mmengine.hub import get_config

    try:
        cfg = get_config(path) if '::' in path else _fromfile(path)
    except (FileNotFoundError, ValueError, AssertionError, ModuleNotFoundError) as e:
        raise ValueError(
            f'students: cannot load config {path!r} ({e}); give a '
            "packaged config such as 'mmpretrain::resnet/resnet50_8xb32_in1k.py', "
            'a config file path, or a model dict'
        ) from e
    if 'model' not in cfg:
        raise ValueError(f'students: config {path!r} has no `model` field')
    model = cfg.model.to_dict() if isinstance(cfg.model, ConfigDict) else dict(cfg.model)
    # A packaged config's preprocessor/batch augments are dataset-level, KDCL owns them.
    for key in _KDCL_OWNED:
        model.pop(key, None)
    return model


def _fromfile(path: str):
    from mmengine.config import Config

    return Config.fromfile(path)


def default_student_name(model_cfg: dict) -> str:
    """``ResNet`` depth 50 -> ``resnet50``; ``MobileNetV2`` -> ``mobilenet_v2``."""
    backbone = model_cfg.get('backbone') or {}
    btype = str(backbone.get('type', model_cfg.get('type', 'student')))
    name = btype.split('.')[-1].lower()
    name = re.sub(r'v(\d+)$', r'_v\1', name)
    if 'depth' in backbone:
        name += str(backbone['depth'])
    return name


def resolve_students(students: List[StudentSpec]) -> List[Tuple[str, dict]]:
    """Return ``[(name, model_cfg), ...]`` with unique names, validating the field."""
    if not isinstance(students, (list, tuple)) or len(students) < 2:
        got = len(students) if isinstance(students, (list, tuple)) else type(students).__name__
        raise ValueError(
            f'model.students must be a list of at least 2 student configs, got {got}. '
            'KDCL trains N >= 2 students together; to train one network alone use '
            'an ImageClassifier config (see configs/baselines/).'
        )
    resolved = []
    for i, spec in enumerate(students):
        if isinstance(spec, str):
            cfg, name = _load_packaged_model(spec), None
        elif isinstance(spec, dict):
            cfg = copy.deepcopy(spec.to_dict() if isinstance(spec, ConfigDict) else dict(spec))
            name = cfg.pop('name', None)
            if 'config' in cfg:  # dict(config='mmpretrain::...', name=..., **overrides)
                cfg = _merge(_load_packaged_model(cfg.pop('config')), cfg)
            for key in _KDCL_OWNED:
                if cfg.get(key) is not None:
                    raise ValueError(
                        f'model.students[{i}].{key} is set, but KDCL preprocesses and augments '
                        f'the batch once for all students: move it to model.{key}.'
                    )
        else:
            raise TypeError(
                f'model.students[{i}] must be a dict or a config path, got {type(spec).__name__}'
            )
        cfg.setdefault('type', 'ImageClassifier')
        if name is not None and not re.fullmatch(r'[A-Za-z0-9_\-]+', str(name)):
            raise ValueError(
                f'model.students[{i}].name={name!r}: use letters, digits, _ and - '
                'only (it prefixes loss and metric keys such as name.loss_kd).'
            )
        resolved.append([name or default_student_name(cfg), cfg])
    for i, (_, cfg) in enumerate(resolved):
        _reject_backbone(i, cfg, [c for _, c in resolved])
    _make_unique([r[0] for r in resolved], resolved)
    return [tuple(r) for r in resolved]


def _reject_backbone(i: int, cfg: dict, all_cfgs: List[dict]) -> None:
    """A bare backbone has no head or loss; say so before it is built (KDCL reads
    ``student.head``), with the wrapper that makes it a student."""
    from mmpretrain.models.backbones.base_backbone import BaseBackbone

    from kdcl_mm.registry import MODELS

    cls = MODELS.get(cfg['type']) if isinstance(cfg['type'], str) else cfg['type']
    if not (isinstance(cls, type) and issubclass(cls, BaseBackbone)):
        return
    heads = [c.get('head') for c in all_cfgs if isinstance(c.get('head'), dict)]
    num_classes = next((h['num_classes'] for h in heads if 'num_classes' in h), '<classes>')
    wrapper = (
        f"dict(type='ImageClassifier', backbone={_as_dict_call(cfg)}, "
        "neck=dict(type='GlobalAveragePooling'), "
        f"head=dict(type='LinearClsHead', num_classes={num_classes}, "
        "in_channels=<the backbone's output channels>))"
    )
    raise ValueError(
        f'model.students[{i}] is a backbone ({cls.__name__}), not a classifier: each KDCL '
        f'student needs a head and its loss. Wrap it in an ImageClassifier: {wrapper}'
    )


def _as_dict_call(cfg: dict) -> str:
    return 'dict(' + ', '.join(f'{k}={v!r}' for k, v in cfg.items()) + ')'


def _merge(base: dict, override: dict) -> dict:
    """Recursive dict merge with mmengine's semantics (``_delete_=True`` replaces)."""
    merged = ConfigDict(base)
    merged.merge(override)
    return merged.to_dict()


def _make_unique(names, resolved) -> None:
    seen = {}
    for r in resolved:
        n = r[0]
        if names.count(n) > 1:
            seen[n] = seen.get(n, -1) + 1
            r[0] = f'{n}_{seen[n]}'
