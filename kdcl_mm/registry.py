"""kdcl_mm's registry nodes: the ``kdcl_mm`` scope in mmengine's registry tree.

Why the scope exists: mmengine sets ``_scope_='kdcl_mm'`` on every typed dict of a config
inherited as ``_base_ = 'kdcl_mm::...'``, and builds such a dict in the registry of that scope,
found after ``import kdcl_mm.registry``. Without these nodes it fell back to mmengine's root
registries, which hold neither mmpretrain's types nor ours, and a downstream project that
inherited any kdcl_mm recipe stopped before its first iteration ("UniversalVisualizer is not
in the mmengine::visualizer registry").

Why each node is a child of mmpretrain's, not of mmengine's root as mmdet's and mmseg's are:
our recipes are mmpretrain recipes, and an unprefixed type is looked up in the scope's own
node and then its parents only, so under scope kdcl_mm a config resolves ours, mmpretrain's
and mmengine's. ``locations`` names mmpretrain's modules beside ours because a lookup reads
its parents' tables without importing their modules. The cost of being a grandchild of the
root: a ``kdcl_mm.`` type prefix resolves only from the kdcl_mm and mmpretrain scopes;
``_scope_='kdcl_mm'`` (searched depth-first from the root) works from any scope.

Where our classes register, with mmdet and mmrazor as the model:

- KDCL's own classes (the model, soft targets, losses, CIFAR backbones, datasets, metric and
  the KDCL hooks): here, so that they cannot collide with mmpretrain's names or be found by
  configs that never asked for kdcl_mm. The recipes set ``default_scope = 'kdcl_mm'``
  (configs/_base_/default_runtime.py). A dict built in mmpretrain's scope says
  ``_scope_='kdcl_mm'``, as mmrazor's configs do: dicts merged from an ``mmpretrain::`` base
  keep ``_scope_='mmpretrain'``, and mmpretrain's tools/visualization/browse_dataset.py builds
  datasets in mmpretrain's scope whatever the config's default_scope.
- The generic runtime (kdcl_mm/engine/runtime: exact resume, preemption, fault hooks; the
  Runner, optimiser wrappers and constructor; StrictPretrained): mmengine's root registries.
  mmdet and mmseg configs use it too (configs/_base_/models/downstream_backbones.py), a lookup
  from any scope ends in the root, and the runtime layer imports nothing of kdcl_mm above it
  (tests/test_layout.py).
- Classes for another library's models or data (MNISTCocoSegDataset): that library's nodes;
  our mmdet and mmseg configs build them under its scope (``_scope_='mmseg'`` where a dict is
  defined only in our file and would otherwise be scoped to kdcl_mm when inherited).
"""

from mmengine.registry import Registry
from mmpretrain import registry as mmpretrain

SCOPE = 'kdcl_mm'


def _node(parent: Registry, *ours: str) -> Registry:
    return Registry(
        parent.name,
        parent=parent,
        scope=SCOPE,
        locations=[*parent._locations, *(f'{SCOPE}.{m}' for m in ours)],
    )


RUNNERS = _node(mmpretrain.RUNNERS, 'engine')
RUNNER_CONSTRUCTORS = _node(mmpretrain.RUNNER_CONSTRUCTORS, 'engine')
LOOPS = _node(mmpretrain.LOOPS, 'engine')
HOOKS = _node(mmpretrain.HOOKS, 'engine')
LOG_PROCESSORS = _node(mmpretrain.LOG_PROCESSORS, 'engine')
OPTIMIZERS = _node(mmpretrain.OPTIMIZERS, 'engine')
OPTIM_WRAPPERS = _node(mmpretrain.OPTIM_WRAPPERS, 'engine')
OPTIM_WRAPPER_CONSTRUCTORS = _node(mmpretrain.OPTIM_WRAPPER_CONSTRUCTORS, 'engine')
PARAM_SCHEDULERS = _node(mmpretrain.PARAM_SCHEDULERS, 'engine')
DATASETS = _node(mmpretrain.DATASETS, 'datasets')
DATA_SAMPLERS = _node(mmpretrain.DATA_SAMPLERS, 'engine')
TRANSFORMS = _node(mmpretrain.TRANSFORMS, 'datasets')
MODELS = _node(mmpretrain.MODELS, 'models')
MODEL_WRAPPERS = _node(mmpretrain.MODEL_WRAPPERS, 'engine')
WEIGHT_INITIALIZERS = _node(mmpretrain.WEIGHT_INITIALIZERS, 'models')
BATCH_AUGMENTS = _node(mmpretrain.BATCH_AUGMENTS, 'models')
TASK_UTILS = _node(mmpretrain.TASK_UTILS, 'models')
TOKENIZER = _node(mmpretrain.TOKENIZER, 'models')
METRICS = _node(mmpretrain.METRICS, 'evaluation')
EVALUATORS = _node(mmpretrain.EVALUATORS, 'evaluation')
VISUALIZERS = _node(mmpretrain.VISUALIZERS)
VISBACKENDS = _node(mmpretrain.VISBACKENDS)

__all__ = [
    'BATCH_AUGMENTS',
    'DATASETS',
    'DATA_SAMPLERS',
    'EVALUATORS',
    'HOOKS',
    'LOG_PROCESSORS',
    'LOOPS',
    'METRICS',
    'MODELS',
    'MODEL_WRAPPERS',
    'OPTIMIZERS',
    'OPTIM_WRAPPERS',
    'OPTIM_WRAPPER_CONSTRUCTORS',
    'PARAM_SCHEDULERS',
    'RUNNERS',
    'RUNNER_CONSTRUCTORS',
    'SCOPE',
    'TASK_UTILS',
    'TOKENIZER',
    'TRANSFORMS',
    'VISBACKENDS',
    'VISUALIZERS',
    'WEIGHT_INITIALIZERS',
]
