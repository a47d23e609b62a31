"""Exporting KDCL students: round trip, test-ready configs, the hook, the CLI and the errors."""

import os
import os.path as osp
import subprocess
import sys
from unittest import mock

import pytest
import torch
from mmengine.config import Config
from mmengine.runner import Runner
from mmengine.runner.checkpoint import _load_checkpoint

import kdcl_mm  # noqa: F401
from kdcl_mm.apis import export_students, select_students
from kdcl_mm.registry import MODELS
from tests.paths import REPO

NAMES = ['resnet18', 'mobilenet_v2']
PIPELINE = [dict(type='Resize', scale=(32, 32)), dict(type='PackInputs')]
VAL_LOADER = dict(
    batch_size=10,
    num_workers=0,
    sampler=dict(type='DefaultSampler', shuffle=False),
    dataset=dict(type='MNISTDigits', split='val', indices=20, pipeline=PIPELINE),
)


def kdcl_config(work_dir: str) -> Config:
    students = [
        dict(
            type='ImageClassifier',
            backbone=dict(type='ResNet', depth=18, stem_channels=8, base_channels=8),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(type='LinearClsHead', num_classes=10, in_channels=64),
        ),
        dict(
            type='ImageClassifier',
            backbone=dict(type='MobileNetV2', widen_factor=0.25),
            neck=dict(type='GlobalAveragePooling'),
            head=dict(type='LinearClsHead', num_classes=10, in_channels=1280),
        ),
    ]
    return Config(
        dict(
            default_scope='kdcl_mm',
            custom_imports=dict(imports=['kdcl_mm'], allow_failed_imports=False),
            model=dict(type='KDCL', students=students, soft_target=dict(type='MeanSoftTarget')),
            data_preprocessor=dict(num_classes=10, mean=[33.3] * 3, std=[78.6] * 3),
            train_dataloader=dict(
                batch_size=4,
                num_workers=0,
                sampler=dict(type='DefaultSampler', shuffle=True),
                dataset=dict(type='MNISTDigits', split='train', num_labeled=20, pipeline=PIPELINE),
            ),
            train_cfg=dict(by_epoch=False, max_iters=2, val_interval=1),
            optim_wrapper=dict(optimizer=dict(type='SGD', lr=0.1, momentum=0.9)),
            val_dataloader=VAL_LOADER,
            val_cfg=dict(),
            val_evaluator=dict(type='KDCLAccuracy', topk=(1,)),
            test_dataloader=VAL_LOADER,
            test_cfg=dict(),
            test_evaluator=dict(type='KDCLAccuracy', topk=(1,)),
            default_hooks=dict(
                checkpoint=dict(
                    type='CheckpointHook',
                    by_epoch=False,
                    interval=1,
                    save_best='ensemble/top1',
                    rule='greater',
                )
            ),
            custom_hooks=[
                dict(type='ExportStudentsHook'),
                dict(
                    type='ExportStudentsHook',
                    from_best=True,
                    out_dir=osp.join(work_dir, 'best_students'),
                ),
            ],
            work_dir=work_dir,
            log_level='WARNING',
            randomness=dict(seed=0),
        )
    )


@pytest.fixture(scope='module')
def trained(tmp_path_factory):
    """A 2-iteration KDCL run with both export hooks; its checkpoints and final model."""
    work_dir = str(tmp_path_factory.mktemp('kdcl_run'))
    runner = Runner.from_cfg(kdcl_config(work_dir))
    runner.train()
    return dict(
        work_dir=work_dir,
        last=osp.join(work_dir, 'iter_2.pth'),
        best=runner.message_hub.get_info('best_ckpt'),
        model_state={k: v.clone() for k, v in runner.model.state_dict().items()},
    )


def kdcl_state(path):
    return _load_checkpoint(path, map_location='cpu')['state_dict']


def assert_student_equal(exported_state, kdcl_state_dict, index):
    prefix = f'students.{index}.'
    expected = {k[len(prefix) :]: v for k, v in kdcl_state_dict.items() if k.startswith(prefix)}
    assert exported_state.keys() == expected.keys()
    assert {k.split('.')[0] for k in exported_state} == {'backbone', 'head'}  # GAP neck: no weights
    for key, value in expected.items():
        assert torch.equal(exported_state[key], value), key


def test_round_trip_every_tensor_plain_load_and_strict_build(trained, tmp_path):
    paths = export_students(trained['last'], str(tmp_path))
    assert paths == [str(tmp_path / f'{n}.pth') for n in NAMES]
    source = kdcl_state(trained['last'])
    for index, (name, path) in enumerate(zip(NAMES, paths)):
        exported = torch.load(path, weights_only=True)  # tensors and builtins only
        assert_student_equal(exported['state_dict'], source, index)
        meta = exported['meta']
        assert (meta['source'], meta['student'], meta['index']) == (trained['last'], name, index)
        classifier = MODELS.build(meta['model'])
        classifier.load_state_dict(exported['state_dict'], strict=True)
        assert type(classifier).__name__ == 'ImageClassifier'
        assert type(classifier.data_preprocessor).__name__ == 'ClsDataPreprocessor'
        assert classifier.data_preprocessor.mean.flatten().tolist() == pytest.approx([33.3] * 3)
        assert open(tmp_path / f'{name}.py').read() == meta['cfg']


def test_exported_config_tests_the_student_alone(trained, tmp_path):
    export_students(trained['last'], str(tmp_path), students=['mobilenet_v2'])
    cfg = Config.fromfile(str(tmp_path / 'mobilenet_v2.py'))
    assert 'train_dataloader' not in cfg and 'custom_hooks' not in cfg
    assert cfg.test_evaluator == dict(type='Accuracy', topk=(1,))
    cfg.work_dir = str(tmp_path / 'test_run')
    runner = Runner.from_cfg(cfg)  # load_from is the exported .pth
    metrics = runner.test()
    assert 0.0 <= metrics['accuracy/top1'] <= 100.0
    assert not osp.exists(osp.join(cfg.work_dir, 'students'))  # the hook was dropped


def test_hook_exports_the_final_checkpoint_after_training(trained):
    for index, name in enumerate(NAMES):
        exported = torch.load(
            osp.join(trained['work_dir'], 'students', f'{name}.pth'), weights_only=True
        )
        assert exported['meta']['source'] == trained['last']
        # The final checkpoint holds the model as training ended.
        assert_student_equal(exported['state_dict'], trained['model_state'], index)


def test_hook_from_best_exports_the_best_checkpoint(trained):
    assert osp.basename(trained['best']).startswith('best_ensemble_top1_iter_')
    best_state = kdcl_state(trained['best'])
    for index, name in enumerate(NAMES):
        exported = torch.load(
            osp.join(trained['work_dir'], 'best_students', f'{name}.pth'), weights_only=True
        )
        assert exported['meta']['source'] == trained['best']
        assert_student_equal(exported['state_dict'], best_state, index)


def test_hook_from_best_needs_save_best(tmp_path):
    cfg = kdcl_config(str(tmp_path))
    cfg.default_hooks.checkpoint.save_best = None
    with pytest.raises(ValueError, match='default_hooks.checkpoint.save_best'):
        Runner.from_cfg(cfg).train()
    assert not osp.exists(tmp_path / 'iter_1.pth')  # refused before training


def test_hook_without_a_checkpoint_hook_warns_and_training_runs(tmp_path):
    # What mmpretrain's vis_scheduler.py builds from a recipe: its own default hooks (no
    # CheckpointHook) and the recipe's custom hooks.
    cfg = kdcl_config(str(tmp_path))
    cfg.default_hooks = dict(checkpoint=None)
    cfg.custom_hooks = [dict(type='ExportStudentsHook')]
    runner = Runner.from_cfg(cfg)
    with mock.patch.object(runner.logger, 'warning') as warning:
        runner.train()
    messages = [c.args[0] for c in warning.call_args_list]
    assert any('no CheckpointHook is configured, so no student' in m for m in messages)
    assert not osp.exists(tmp_path / 'students')


@pytest.mark.parametrize('wanted', [[1], ['1'], ['mobilenet_v2'], [1, 'mobilenet_v2']])
def test_select_students_by_index_or_name(wanted):
    assert select_students(NAMES, wanted) == [1]


@pytest.mark.parametrize(
    'wanted, message',
    [
        ([2], 'student index 2 does not exist; valid students: 0: resnet18, 1: mobilenet_v2'),
        (['vgg16'], "no student named 'vgg16'; valid students: 0: resnet18, 1: mobilenet_v2"),
    ],
)
def test_unknown_student_lists_the_valid_ones(trained, tmp_path, wanted, message):
    with pytest.raises(ValueError, match=message):
        export_students(trained['last'], str(tmp_path), students=wanted)
    assert os.listdir(tmp_path) == []


def test_refuses_to_overwrite_unless_asked(trained, tmp_path):
    export_students(trained['last'], str(tmp_path), students=[0])
    with pytest.raises(FileExistsError, match='resnet18.pth.*overwrite=True'):
        export_students(trained['last'], str(tmp_path), students=['resnet18'])
    (tmp_path / 'resnet18.pth').write_bytes(b'stale')
    export_students(trained['last'], str(tmp_path), students=[0], overwrite=True)
    assert torch.load(tmp_path / 'resnet18.pth', weights_only=True)['meta']['index'] == 0


def test_rejects_a_checkpoint_without_students(tmp_path):
    path = str(tmp_path / 'classifier.pth')
    torch.save(
        {
            'state_dict': {'backbone.conv1.weight': torch.ones(1)},
            'meta': {'cfg': "model = dict(type='ImageClassifier')"},
        },
        path,
    )
    with pytest.raises(ValueError, match=r'not a KDCL checkpoint.*\[\'backbone\'\]'):
        export_students(path, str(tmp_path / 'out'))


def test_rejects_a_checkpoint_without_its_config(trained, tmp_path):
    path = str(tmp_path / 'weights_only.pth')
    torch.save({'state_dict': kdcl_state(trained['last'])}, path)
    with pytest.raises(ValueError, match=r"no training config in meta\['cfg'\]"):
        export_students(path, str(tmp_path / 'out'))


def test_truncated_checkpoint_raises_a_clear_error(trained, tmp_path):
    data = open(trained['last'], 'rb').read()
    path = tmp_path / 'truncated.pth'
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(RuntimeError, match='truncated'):
        export_students(str(path), str(tmp_path / 'out'))
    assert not osp.exists(tmp_path / 'out')


@pytest.mark.slow  # two fresh interpreters
def test_cli_exports_the_named_student_and_reports_errors(trained, tmp_path):
    cli = [
        sys.executable,
        osp.join(REPO, 'tools', 'export_students.py'),
        trained['last'],
        '--out-dir',
        str(tmp_path),
    ]
    done = subprocess.run(
        cli + ['--students', 'mobilenet_v2'], capture_output=True, text=True, cwd=REPO
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == str(tmp_path / 'mobilenet_v2.pth')
    assert sorted(os.listdir(tmp_path)) == ['mobilenet_v2.pth', 'mobilenet_v2.py']
    again = subprocess.run(cli, capture_output=True, text=True, cwd=REPO)
    assert again.returncode == 1 and 'refusing to overwrite' in again.stderr
