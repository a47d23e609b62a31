"""Fail fast on configs that would otherwise fail (or silently mis-train) later.

:data:`CONFIG_CHECKS` is the one list of checks. :class:`~kdcl_mm.engine.runner.CheckedRunner`
runs it (:func:`run_config_checks`) once, before anything is built, so every entry point that
builds the recipe's runner (``tools/train.py``, mmpretrain's own ``tools/train.py``,
``RUNNERS.build(cfg)``) gets the same errors, each naming the field and the fix.
"""

import inspect
from typing import Callable, Iterator, Optional, Tuple

from mmengine.config import Config

from kdcl_mm.datasets.dataset_cfg import innermost_dataset_cfg
from kdcl_mm.datasets.transforms import MULTI_VIEW_TYPES, VIEW_DISTORTION_KEY
from kdcl_mm.engine.runtime.amp_check import check_amp_in_config
from kdcl_mm.engine.runtime.schedule_check import check_param_schedulers

DEFERRED = 'DeferredMultiView'


class ConfigError(ValueError):
    """A config mistake found before anything was built; the message names the field and
    the fix. Entry scripts print it without a traceback."""


def _find_multiview(pipeline):
    for t in pipeline or []:
        if isinstance(t, dict) and t.get('type') in MULTI_VIEW_TYPES:
            return t
    return None


def check_kdcl_config(cfg: Config) -> None:
    """Raise ValueError naming the field when a KDCL config is inconsistent."""
    model = cfg.get('model', {})
    if model.get('type') != 'KDCL':
        return
    num_students = len(model.get('students', []))
    train_loader = cfg.get('train_dataloader') or {}
    dataset = train_loader.get('dataset')
    pipeline = innermost_dataset_cfg(dataset).get('pipeline') if isinstance(dataset, dict) else None
    multiview = _find_multiview(pipeline)
    if multiview is not None:
        views = multiview.get('num_views')
        total = sum(views) if isinstance(views, (list, tuple)) else views
        if total != num_students:
            raise ValueError(
                f'train_dataloader.dataset.pipeline: {multiview["type"]}(num_views={views}) '
                f'gives {total} '
                f'views but model.students has {num_students} students; input distortion needs '
                f'one view per student: set num_views={num_students} (or drop MultiView).'
            )
    soft_target = model.get('soft_target', {}) or {}
    if soft_target.get('type') == 'GeneralSoftTarget':
        hooks = [h.get('type') for h in cfg.get('custom_hooks', []) or []]
        if 'GeneralWeightsHook' not in hooks:
            raise ValueError(
                'model.soft_target is GeneralSoftTarget but custom_hooks has no '
                "GeneralWeightsHook: General's weights come from a held-out split. Add "
                "dict(type='GeneralWeightsHook', heldout_dataloader=...) as "
                'configs/kdcl/resnet18-w16_mbv2-w0.5_mnist_general.py does.'
            )


def check_export_students_hook(cfg: Config) -> None:
    """ExportStudentsHook exports what the CheckpointHook saved: without one, a whole training
    run would end with no student exported."""
    hooks = [h for h in cfg.get('custom_hooks') or [] if isinstance(h, dict)]
    if not any(h.get('type') == 'ExportStudentsHook' for h in hooks):
        return
    if not (cfg.get('default_hooks') or {}).get('checkpoint'):
        raise ValueError(
            'default_hooks.checkpoint is not set, but custom_hooks has ExportStudentsHook, '
            'which exports the checkpoint it saves: set default_hooks.checkpoint='
            "dict(type='CheckpointHook', interval=1) or remove ExportStudentsHook."
        )


def check_deferred_distortion(cfg: Config) -> None:
    """DeferredMultiView leaves each view's flip and colour jitter to the data preprocessor,
    as ``view_distortion`` rows that PackInputs must carry and MultiViewClsDataPreprocessor
    applies. Without either, every view trains undistorted and nothing else would notice."""
    train_loader = cfg.get('train_dataloader') or {}
    dataset = train_loader.get('dataset')
    if not isinstance(dataset, dict):
        return
    pipeline = list(innermost_dataset_cfg(dataset).get('pipeline') or [])
    where = 'train_dataloader.dataset.pipeline'
    deferred = next(
        (i for i, t in enumerate(pipeline) if isinstance(t, dict) and t.get('type') == DEFERRED),
        None,
    )
    if deferred is None:
        return
    pack = next(
        (
            i
            for i, t in enumerate(pipeline[deferred + 1 :], deferred + 1)
            if isinstance(t, dict) and str(t.get('type', '')).split('.')[-1] == 'PackInputs'
        ),
        None,
    )
    fix = f"dict(type='PackInputs', algorithm_keys=['{VIEW_DISTORTION_KEY}'])"
    if pack is None:
        raise ValueError(
            f'{where}: {DEFERRED} (item {deferred}) is not followed by PackInputs, which must '
            f'carry its {VIEW_DISTORTION_KEY!r} rows to the data preprocessor: add {fix}.'
        )
    keys = pipeline[pack].get('algorithm_keys') or ()
    if VIEW_DISTORTION_KEY not in keys:
        raise ValueError(
            f'{where}[{pack}]: PackInputs(algorithm_keys={list(keys)}) drops the '
            f'{VIEW_DISTORTION_KEY!r} rows of {DEFERRED}, so every view would train without '
            f'its flip and colour jitter: use {fix}.'
        )
    model = cfg.get('model') or {}
    preprocessor = model.get('data_preprocessor') or cfg.get('data_preprocessor') or {}
    kind = preprocessor.get('type') if isinstance(preprocessor, dict) else None
    if kind is None and model.get('type') == 'KDCL':
        return  # KDCL's default: MultiViewClsDataPreprocessor
    from kdcl_mm.models.data_preprocessors import MultiViewClsDataPreprocessor
    from kdcl_mm.registry import MODELS

    cls = MODELS.get(kind) if isinstance(kind, str) else kind
    if not (isinstance(cls, type) and issubclass(cls, MultiViewClsDataPreprocessor)):
        raise ValueError(
            f'model.data_preprocessor is {kind or "the model default"!r}, which does not apply '
            f"{DEFERRED}'s {VIEW_DISTORTION_KEY!r} rows, so every view would train without its "
            "flip and colour jitter: use dict(type='MultiViewClsDataPreprocessor', ...), or "
            f'MultiView instead of {DEFERRED} to distort on the CPU.'
        )


def _dataset_class(cfg) -> Optional[type]:
    from kdcl_mm.registry import DATASETS

    kind = cfg.get('type') if isinstance(cfg, dict) else None
    return DATASETS.get(kind) if isinstance(kind, str) else kind if isinstance(kind, type) else None


def _keywords(cls: Optional[type]) -> Optional[set]:
    """The keys ``cls`` takes, or None when unknown (no class, or a ``**kwargs`` catch-all)."""
    if cls is None:
        return None
    params = inspect.signature(cls).parameters.values()
    if any(p.kind is p.VAR_KEYWORD for p in params):
        return None
    return {p.name for p in params}


def _dataset_wrappers(node, path: str) -> Iterator[Tuple[str, dict, type]]:
    """``(path, cfg, class)`` of every dataset wrapper config (a ``dataset`` dict inside)."""
    if isinstance(node, dict):
        cls = _dataset_class(node) if isinstance(node.get('dataset'), dict) else None
        if cls is not None:
            yield path, node, cls
        for key, value in node.items():
            yield from _dataset_wrappers(value, f'{path}.{key}' if path else key)
    elif isinstance(node, (list, tuple)):
        for i, value in enumerate(node):
            yield from _dataset_wrappers(value, f'{path}[{i}]')


def _inner_path(wrapper: dict, path: str, key: str) -> Tuple[str, dict]:
    """The first dataset under ``wrapper`` that takes ``key`` (else the innermost one)."""
    inner, path = wrapper['dataset'], f'{path}.dataset'
    while isinstance(inner.get('dataset'), dict):
        accepted = _keywords(_dataset_class(inner))
        if accepted is None or key in accepted:
            break
        inner, path = inner['dataset'], f'{path}.dataset'
    return path, inner


def check_wrapped_dataset_keys(cfg: Config) -> None:
    """A key set on a dataset wrapper (``HeldOutSplit``, ``RepeatDataset``, ...) that the
    wrapper does not take, typically an override such as
    ``--cfg-options train_dataloader.dataset.num_labeled=300`` meant for the wrapped
    dataset; mmengine would fail later with a bare ``unexpected keyword argument``."""
    wrappers = [w for key, value in cfg.items() for w in _dataset_wrappers(value, key)]
    for path, wrapper, cls in wrappers:
        accepted = _keywords(cls)
        if accepted is None:
            continue
        for key in sorted(set(wrapper) - accepted - {'type', '_scope_'}):
            target, inner = _inner_path(wrapper, path, key)
            value = wrapper[key]
            suffix = target[len(path) :]
            twins = [
                other + suffix
                for other, other_cfg, other_cls in wrappers
                if other != path
                and other_cls is cls
                and _at(other_cfg, suffix).get('type') == inner.get('type')
            ]
            also = (
                f' The same dataset is wrapped at {", ".join(twins)} too: set {key} there as '
                f'well, so the wrappers still wrap one dataset.'
                if twins
                else ''
            )
            option = f'{target}.{key}'.replace('[', '.').replace(']', '')
            raise ValueError(
                f'{path}.{key}: {path} is a {cls.__name__}, a dataset wrapper that takes only '
                f'{", ".join(sorted(accepted))}; {key} belongs to the dataset it wraps '
                f'({inner.get("type")}) at {target}. Set {target}.{key}={value!r} instead '
                f'(--cfg-options {option}={value!r}).{also}'
            )


def _at(cfg: dict, suffix: str) -> dict:
    for key in suffix.strip('.').split('.'):
        cfg = cfg.get(key) if isinstance(cfg, dict) else None
    return cfg if isinstance(cfg, dict) else {}


#: Every check, in the order they run; each raises ValueError naming the field and the fix.
CONFIG_CHECKS: Tuple[Callable[[Config], None], ...] = (
    check_kdcl_config,
    check_deferred_distortion,
    check_export_students_hook,
    check_amp_in_config,
    check_param_schedulers,
    check_wrapped_dataset_keys,
)


def run_config_checks(cfg: Config) -> None:
    """Run :data:`CONFIG_CHECKS`; the first problem is raised as :class:`ConfigError`."""
    for check in CONFIG_CHECKS:
        try:
            check(cfg)
        except ConfigError:
            raise
        except ValueError as err:
            raise ConfigError(str(err)) from err
