"""A project outside the checkout whose config is only ``_base_ = 'kdcl_mm::<config>'``, for
every config under configs/: the Runner builds, and every type the Runner builds later (data,
metrics, loops, optimiser, schedules) resolves where mmengine will look it up.

mmengine scopes every typed dict of a ``kdcl_mm::`` base to kdcl_mm (``_scope_='kdcl_mm'``),
so this is what kdcl_mm/registry.py is for; before it, 0 of the classification recipes built.
Training from such a project, through our and the libraries' entry scripts, is in
tests/integration/test_openmmlab_tools.py.
"""

import glob
import os.path as osp

import pytest
from mmengine import registry as root
from mmengine.config import Config

from kdcl_mm.engine import CheckedRunner
from tests.paths import CONFIGS

PATHS = sorted(
    p for p in glob.glob(osp.join(CONFIGS, '*', '*.py')) if not p.startswith(CONFIGS + '/_base_')
)
CLASSIFICATION = [p for p in PATHS if osp.basename(osp.dirname(p)) in ('kdcl', 'baselines')]


def ids(paths):
    return [osp.relpath(p, CONFIGS) for p in paths]


def downstream(tmp_path, path) -> Config:
    project = tmp_path / 'project'
    project.mkdir()
    (project / 'my_config.py').write_text(f"_base_ = 'kdcl_mm::{osp.relpath(path, CONFIGS)}'\n")
    cfg = Config.fromfile(str(project / 'my_config.py'))
    cfg.work_dir = str(tmp_path / 'work_dir')
    return cfg


def resolve(registry, cfg: dict, scope: str, where: str) -> str:
    """The scope ``cfg`` is built in, after checking that its type resolves there, as
    mmengine's build_from_cfg looks it up (``_scope_`` first, else the enclosing scope)."""
    scope = cfg.get('_scope_') or scope
    with registry.switch_scope_and_registry(scope) as found_in:
        assert found_in.get(cfg['type']) is not None, (
            f'{where}: {cfg["type"]} is not in the {scope}::{registry.name} registry'
        )
    return scope


def resolve_transforms(transforms, scope: str, where: str) -> None:
    for i, t in enumerate(transforms or []):
        if isinstance(t, (list, tuple)):  # MultiView's transforms: one list per view
            resolve_transforms(t, scope, f'{where}[{i}]')
        elif isinstance(t, dict) and 'type' in t:
            inner = resolve(root.TRANSFORMS, t, scope, f'{where}[{i}]')
            resolve_transforms(t.get('transforms'), inner, f'{where}[{i}].transforms')


def resolve_dataset(dataset: dict, scope: str, where: str) -> None:
    scope = resolve(root.DATASETS, dataset, scope, where)
    resolve_transforms(dataset.get('pipeline'), scope, f'{where}.pipeline')
    if isinstance(dataset.get('dataset'), dict):  # HeldOutSplit, RepeatDataset, ...
        resolve_dataset(dataset['dataset'], scope, f'{where}.dataset')


def resolve_dataloader(loader: dict, scope: str, where: str) -> None:
    resolve_dataset(loader['dataset'], scope, f'{where}.dataset')
    for key in ('sampler', 'batch_sampler'):
        if isinstance(loader.get(key), dict):
            resolve(root.DATA_SAMPLERS, loader[key], scope, f'{where}.{key}')


def dataloaders(cfg: Config):
    """``(where, dataloader cfg)`` at the top level and inside hooks (GeneralWeightsHook)."""
    for key, value in cfg.items():
        if key.endswith('_dataloader') and isinstance(value, dict):
            yield key, value
    for i, hook in enumerate(cfg.get('custom_hooks') or []):
        for key, value in hook.items():
            if key.endswith('_dataloader') and isinstance(value, dict):
                yield f'custom_hooks[{i}].{key}', value


def resolve_lazily_built(cfg: Config) -> None:
    """What Runner.train()/test() builds after the Runner itself, under its default scope."""
    scope = cfg.get('default_scope', 'mmengine')
    for where, loader in dataloaders(cfg):
        resolve_dataloader(loader, scope, where)
    for key in ('val_evaluator', 'test_evaluator'):
        metrics = cfg.get(key)
        for i, metric in enumerate(metrics if isinstance(metrics, list) else [metrics]):
            if isinstance(metric, dict):
                resolve(root.METRICS, metric, scope, f'{key}[{i}]')
    for key in ('train_cfg', 'val_cfg', 'test_cfg'):
        if isinstance(cfg.get(key), dict) and 'type' in cfg[key]:
            resolve(root.LOOPS, cfg[key], scope, key)
    wrapper = cfg.get('optim_wrapper') or {}
    wrapper_scope = resolve(
        root.OPTIM_WRAPPERS,
        dict(wrapper, type=wrapper.get('type', 'OptimWrapper')),
        scope,
        'optim_wrapper',
    )
    resolve(root.OPTIMIZERS, wrapper['optimizer'], wrapper_scope, 'optim_wrapper.optimizer')
    if 'constructor' in wrapper:
        resolve(
            root.OPTIM_WRAPPER_CONSTRUCTORS,
            dict(type=wrapper['constructor']),
            wrapper_scope,
            'optim_wrapper.constructor',
        )
    schedulers = cfg.get('param_scheduler') or []
    for i, scheduler in enumerate(schedulers if isinstance(schedulers, list) else [schedulers]):
        resolve(root.PARAM_SCHEDULERS, scheduler, scope, f'param_scheduler[{i}]')


@pytest.mark.parametrize('path', PATHS, ids=ids(PATHS))
def test_a_config_inherited_from_outside_builds_a_runner(path, tmp_path):
    cfg = downstream(tmp_path, path)
    # As tools/train.py and mmpretrain's, mmdet's and mmseg's tools/train.py build it.
    runner = root.RUNNERS.build(cfg) if 'runner_type' in cfg else CheckedRunner.from_cfg(cfg)
    assert runner.model is not None
    resolve_lazily_built(cfg)


@pytest.mark.parametrize('path', PATHS, ids=ids(PATHS))
def test_every_lazily_built_type_resolves_when_run_directly(path):
    resolve_lazily_built(Config.fromfile(path))


@pytest.mark.parametrize('path', CLASSIFICATION, ids=ids(CLASSIFICATION))
@pytest.mark.parametrize('inherited', [False, True], ids=['direct', 'inherited'])
def test_datasets_resolve_in_mmpretrain_s_scope_too(path, inherited, tmp_path):
    """mmpretrain's tools/visualization/browse_dataset.py builds the dataset under
    init_default_scope('mmpretrain'), whatever the config's default_scope."""
    cfg = downstream(tmp_path, path) if inherited else Config.fromfile(path)
    for phase in ('train', 'val', 'test'):  # its --phase
        resolve_dataset(cfg[f'{phase}_dataloader'].dataset, 'mmpretrain', f'{phase}_dataloader')
