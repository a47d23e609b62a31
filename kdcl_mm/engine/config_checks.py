"""Fail fast on configs that would otherwise fail (or silently mis-train) later.

:data:`CONFIG_CHECKS` is the one list of checks. :class:`~kdcl_mm.engine.runner.CheckedRunner`
runs it (:func:`run_config_checks`) once, before anything is built, so every entry point that
builds the recipe's runner (``tools/train.py``, mmpretrain's own ``tools/train.py``,
``RUNNERS.build(cfg)``) gets the same errors, each naming the field and the fix.
"""

from typing import Callable, Tuple

from mmengine.config import Config

from kdcl_mm.datasets.dataset_cfg import innermost_dataset_cfg
from kdcl_mm.engine.runtime.amp_check import check_amp_in_config
from kdcl_mm.engine.runtime.schedule_check import check_param_schedulers


class ConfigError(ValueError):
    """A config mistake found before anything was built; the message names the field and
    the fix. Entry scripts print it without a traceback."""


def _find_multiview(pipeline):
    for t in pipeline or []:
        if isinstance(t, dict) and t.get('type') == 'MultiView':
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
                f'train_dataloader.dataset.pipeline: MultiView(num_views={views}) gives {total} '
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


#: Every check, in the order they run; each raises ValueError naming the field and the fix.
CONFIG_CHECKS: Tuple[Callable[[Config], None], ...] = (
    check_kdcl_config,
    check_amp_in_config,
    check_param_schedulers,
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
