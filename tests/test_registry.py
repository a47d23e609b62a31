"""kdcl_mm/registry.py: the kdcl_mm scope's nodes, and where each kind of class registers.

That every config inherited as ``kdcl_mm::...`` from another folder builds a Runner is
tests/test_configs/test_downstream_project.py.
"""

import subprocess
import sys

import pytest
from mmengine import registry as mmengine
from mmengine.registry import DefaultScope
from mmpretrain import registry as mmpretrain

from kdcl_mm import registry as kdcl_mm

NODES = [name for name in kdcl_mm.__all__ if name != 'SCOPE']


@pytest.mark.parametrize('name', NODES)
def test_each_node_is_a_child_of_mmpretrain_s_in_the_kdcl_mm_scope(name):
    node, parent = getattr(kdcl_mm, name), getattr(mmpretrain, name)
    assert node.scope == 'kdcl_mm' and node.parent is parent
    assert parent._children['kdcl_mm'] is node
    assert node._get_root_registry()._search_child('kdcl_mm') is node


def test_mmpretrain_defines_no_node_that_kdcl_mm_lacks():
    assert set(mmpretrain.__all__) | {'TOKENIZER'} == set(NODES)  # their __all__ leaves it out


@pytest.mark.parametrize(
    'node, name, module',
    [
        # ours
        ('MODELS', 'KDCL', 'kdcl_mm.models.classifiers.kdcl'),
        ('MODELS', 'CifarResNet', 'kdcl_mm.models.backbones.cifar_resnet'),
        ('DATASETS', 'MNISTDigits', 'kdcl_mm.datasets.mnist_digits'),
        ('METRICS', 'KDCLAccuracy', 'kdcl_mm.evaluation.metrics.kdcl_accuracy'),
        ('HOOKS', 'ExportStudentsHook', 'kdcl_mm.engine.hooks.export_students_hook'),
        # mmpretrain's
        ('MODELS', 'ImageClassifier', 'mmpretrain.models.classifiers.image'),
        ('TRANSFORMS', 'MultiView', 'mmpretrain.datasets.transforms.wrappers'),
        ('VISUALIZERS', 'UniversalVisualizer', 'mmpretrain.visualization.visualizer'),
        ('HOOKS', 'VisualizationHook', 'mmpretrain.engine.hooks.visualization_hook'),
        # mmengine's, and our runtime in mmengine's root
        ('HOOKS', 'CheckpointHook', 'mmengine.hooks.checkpoint_hook'),
        ('HOOKS', 'RNGStateHook', 'kdcl_mm.engine.runtime.rng_state_hook'),
        ('LOOPS', 'ResumableEpochBasedTrainLoop', 'kdcl_mm.engine.runtime.resumable_loop'),
        ('RUNNERS', 'CheckedRunner', 'kdcl_mm.engine.runner.checked_runner'),
    ],
)
def test_the_kdcl_mm_scope_resolves_ours_mmpretrain_s_and_mmengine_s(node, name, module):
    with getattr(mmengine, node).switch_scope_and_registry('kdcl_mm') as registry:
        assert registry is getattr(kdcl_mm, node)
        assert registry.get(name).__module__ == module


@pytest.mark.parametrize(
    'node, name',
    [
        ('MODELS', 'KDCL'),
        ('MODELS', 'MinLogitSoftTarget'),
        ('MODELS', 'SoftTargetKDLoss'),
        ('MODELS', 'WideResNet'),
        ('DATASETS', 'HeldOutSplit'),
        ('DATASETS', 'MNISTDigits'),
        ('METRICS', 'KDCLAccuracy'),
        ('HOOKS', 'ChannelsLastHook'),
        ('HOOKS', 'GeneralWeightsHook'),
        ('HOOKS', 'KDWarmupHook'),
    ],
)
def test_kdcl_s_own_classes_register_in_the_kdcl_mm_scope(node, name):
    assert name in getattr(kdcl_mm, node).module_dict
    assert name not in getattr(mmengine, node).module_dict


@pytest.mark.parametrize(
    'node, name',
    [
        ('HOOKS', 'DataFaultHook'),
        ('HOOKS', 'RNGStateHook'),
        ('HOOKS', 'ResumeScheduleHook'),
        ('LOOPS', 'ResumableEpochBasedTrainLoop'),
        ('DATA_SAMPLERS', 'ResumableSampler'),
        ('OPTIM_WRAPPERS', 'BF16AutocastOptimWrapper'),
        ('OPTIM_WRAPPER_CONSTRUCTORS', 'MergedGroupsOptimWrapperConstructor'),
        ('RUNNERS', 'CheckedRunner'),
        ('WEIGHT_INITIALIZERS', 'StrictPretrained'),
    ],
)
@pytest.mark.parametrize('scope', ['mmdet', 'mmseg', 'mmpretrain', 'kdcl_mm', 'mmengine'])
def test_the_generic_runtime_is_in_mmengine_s_root_for_every_scope(node, name, scope):
    """mmdet's and mmseg's configs name it unprefixed (configs/_base_/models/)."""
    pytest.importorskip(scope)
    assert name in getattr(mmengine, node).module_dict
    with getattr(mmengine, node).switch_scope_and_registry(scope) as registry:
        assert registry.get(name) is getattr(mmengine, node).get(name)


def test_an_unprefixed_kdcl_type_is_not_found_in_mmpretrain_s_scope():
    """Lookups search a node and its parents, never its children: a dict built in mmpretrain's
    scope names our types with _scope_='kdcl_mm' (configs/_base_/datasets/)."""
    assert mmpretrain.MODELS.get('KDCL') is None
    assert mmpretrain.MODELS.get('kdcl_mm.KDCL') is kdcl_mm.MODELS.get('KDCL')
    with DefaultScope.overwrite_default_scope('mmpretrain'):
        model = mmpretrain.MODELS.build(dict(_scope_='kdcl_mm', type='MinLogitSoftTarget'))
    assert type(model).__name__ == 'MinLogitSoftTarget'


def test_building_in_the_kdcl_mm_scope_imports_kdcl_mm_and_mmpretrain():
    """A fresh process that never imported either, as mmengine does for a ``_scope_='kdcl_mm'``
    dict of an inherited config: ``import kdcl_mm.registry``, then the nodes' locations."""
    code = (
        'import sys\n'
        'from mmengine.registry import VISUALIZERS, MODELS\n'
        "assert 'kdcl_mm' not in sys.modules and 'mmpretrain' not in sys.modules\n"
        "with MODELS.switch_scope_and_registry('kdcl_mm') as models:\n"
        "    print(models.scope, models.get('KDCL').__name__)\n"
        "with VISUALIZERS.switch_scope_and_registry('kdcl_mm') as visualizers:\n"
        "    print(visualizers.get('UniversalVisualizer').__name__)\n"
    )
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr[-3000:]
    # The forks' dataset modules print 'Could not import OneDL' first.
    assert out.stdout.split()[-3:] == ['kdcl_mm', 'KDCL', 'UniversalVisualizer']


ROOT_MODULES = (
    'kdcl_mm.engine.runtime.',
    'kdcl_mm.engine.runner.',
    'kdcl_mm.engine.optimizers.',
    'kdcl_mm.models.strict_pretrained',
    'kdcl_mm.launch.',
)


def expected_scope(module: str) -> str:
    if module.startswith(ROOT_MODULES):
        return 'mmengine'
    if module == 'kdcl_mm.datasets.mnist_coco_seg':
        return 'mmseg'
    return 'kdcl_mm'


def registered_kdcl_mm_classes():
    """``(scope, node name, class name, module)`` of every kdcl_mm class in the registry tree
    (MNISTCocoSegDataset once a downstream config has imported its module)."""

    def walk(node):
        yield node
        for child in node._children.values():
            yield from walk(child)

    roots = {id(r): r for r in vars(mmengine).values() if isinstance(r, mmengine.Registry)}
    for root in roots.values():
        for node in walk(root):
            for name, cls in node.module_dict.items():
                module = getattr(cls, '__module__', '')
                if module.startswith('kdcl_mm.'):
                    yield node.scope, node.name, name, module


def test_every_kdcl_mm_class_registers_where_kdcl_mm_registry_py_says():
    found = list(registered_kdcl_mm_classes())
    assert len(found) > 20
    misplaced = [
        (scope, node, name)
        for scope, node, name, module in found
        if scope != expected_scope(module)
    ]
    assert misplaced == []
