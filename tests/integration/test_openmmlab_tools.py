"""OpenMMLab's own entry scripts, as shipped in their wheels, run kdcl_mm's configs unchanged:
mmpretrain's tools/train.py and tools/test.py (KDCL and a baseline), mmdet's and mmseg's
tools/train.py (the MNIST-COCO detector and segmentor from an exported KDCL student),
mmpretrain's tools/visualization/browse_dataset.py and vis_scheduler.py.

They force ``persistent_workers=True``, ``pin_memory=True`` and ``default_collate`` on every
dataloader the config leaves unset, and build ``RUNNERS.build(cfg)`` when ``runner_type`` is set.
"""

import importlib.util
import os
import os.path as osp
import subprocess
import sys

import pytest

from tests.paths import REPO

KDCL = osp.join(REPO, 'configs', 'kdcl', 'resnet18-w16_mbv2-w0.5_mnist.py')
SOLO = osp.join(REPO, 'configs', 'baselines', 'mobilenet_v2-w0.5_mnist.py')
DETECTOR = osp.join(REPO, 'configs', 'mmdet', 'faster-rcnn_r18-w16_fpn_mnist-coco.py')
SEGMENTOR = osp.join(REPO, 'configs', 'mmseg', 'fpn_r18-w16_mnist-coco.py')
# One epoch over 64 labelled digits: enough to cross every hook and the checkpoint.
SMALL_CLS = ['train_cfg.max_epochs=1', 'train_dataloader.dataset.num_labeled=64']

pytestmark = pytest.mark.slow


def shipped_tool(package: str, script: str) -> str:
    path = osp.join(osp.dirname(importlib.util.find_spec(package).origin), '.mim', 'tools', script)
    assert osp.isfile(path), f'{package} ships no {script} at {path}'
    return path


def run_tool(package, script, *args, cwd):
    # Run from a scratch directory, as a user of the wheel would: nothing of the repository on
    # sys.path but the installed kdcl_mm.
    env = dict(os.environ, OMP_NUM_THREADS='1', PYTHONWARNINGS='ignore')
    env.pop('PYTHONPATH', None)
    out = subprocess.run(
        [sys.executable, shipped_tool(package, script), *map(str, args)],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    log = out.stdout + out.stderr
    assert out.returncode == 0, log[-5000:]
    return log


@pytest.fixture(scope='module')
def kdcl_run(tmp_path_factory):
    work_dir = tmp_path_factory.mktemp('mmpretrain_train')
    log = run_tool(
        'mmpretrain',
        'train.py',
        KDCL,
        '--work-dir',
        work_dir,
        '--cfg-options',
        *SMALL_CLS,
        cwd=work_dir,
    )
    return work_dir, log


def test_mmpretrain_train_runs_kdcl(kdcl_run):
    work_dir, log = kdcl_run
    assert osp.isfile(work_dir / 'epoch_1.pth')
    assert 'ensemble/top1:' in log and 'mobilenet_v2.loss_kd' in log
    # ExportStudentsHook ran under mmpretrain's own entry point too.
    exported = {f for f in os.listdir(work_dir / 'students') if f.endswith('.pth')}
    assert exported == {'mobilenet_v2.pth', 'resnet18.pth'}


def test_mmpretrain_test_evaluates_a_kdcl_checkpoint(kdcl_run):
    work_dir, _ = kdcl_run
    log = run_tool(
        'mmpretrain',
        'test.py',
        KDCL,
        work_dir / 'epoch_1.pth',
        '--work-dir',
        work_dir / 'test',
        cwd=work_dir,
    )
    assert 'resnet18/top1:' in log and 'ensemble/top1:' in log


def test_mmpretrain_train_runs_a_baseline(tmp_path):
    run_tool(
        'mmpretrain',
        'train.py',
        SOLO,
        '--work-dir',
        tmp_path,
        '--cfg-options',
        *SMALL_CLS,
        cwd=tmp_path,
    )
    assert osp.isfile(tmp_path / 'epoch_1.pth')


def test_mmpretrain_browse_dataset_shows_a_kdcl_recipe_s_images(tmp_path):
    # The 'original' mode; the other modes fail in mmpretrain 1.2 on matplotlib >= 3.10
    # (adjust_bbox() lost an argument), whatever the config.
    out = tmp_path / 'browse'
    run_tool(
        'mmpretrain',
        'visualization/browse_dataset.py',
        KDCL,
        *('--mode', 'original', '--show-number', '2', '--output-dir', out, '--not-show'),
        cwd=tmp_path,
    )
    assert sorted(os.listdir(out)) == ['0.jpg', '1.jpg']


def test_mmpretrain_vis_scheduler_plots_a_kdcl_recipe_s_schedule(tmp_path):
    # It builds a Runner of its own default hooks (no CheckpointHook) and the recipe's custom
    # hooks, ExportStudentsHook among them.
    plot = tmp_path / 'lr.png'
    run_tool(
        'mmpretrain',
        'visualization/vis_scheduler.py',
        KDCL,
        *('--dataset-size', '64', '--ngpus', '1', '--save-path', plot, '--not-show'),
        cwd=tmp_path,
    )
    assert plot.stat().st_size > 0


@pytest.fixture(scope='module')
def mnist_coco(tmp_path_factory):
    from tools.dataset_converters.mnist_coco import generate_mnist_coco

    root = str(tmp_path_factory.mktemp('mnist_coco')) + '/'
    # The configs' own canvas size: a smaller canvas would be padded with mmseg's ignore
    # label, which its class-weighted loss cannot index.
    generate_mnist_coco(root, num_train=4, num_val=2, num_test=0, canvas_size=128, progress=False)
    return root


def test_mmdet_train_runs_the_mnist_coco_detector(kdcl_run, mnist_coco, tmp_path):
    student = kdcl_run[0] / 'students' / 'resnet18.pth'
    log = run_tool(
        'mmdet',
        'train.py',
        DETECTOR,
        '--work-dir',
        tmp_path,
        '--cfg-options',
        f'model.backbone.init_cfg.checkpoint={student}',
        'train_cfg.max_epochs=1',
        'train_dataloader.batch_size=2',
        f'train_dataloader.dataset.data_root={mnist_coco}',
        f'val_dataloader.dataset.data_root={mnist_coco}',
        f'val_evaluator.ann_file={mnist_coco}annotations/instances_val.json',
        cwd=tmp_path,
    )
    assert osp.isfile(tmp_path / 'epoch_1.pth')
    assert 'coco/bbox_mAP:' in log


def test_mmseg_train_runs_the_mnist_coco_segmentor(kdcl_run, mnist_coco, tmp_path):
    student = kdcl_run[0] / 'students' / 'resnet18.pth'
    log = run_tool(
        'mmseg',
        'train.py',
        SEGMENTOR,
        '--work-dir',
        tmp_path,
        '--cfg-options',
        f'model.backbone.init_cfg.checkpoint={student}',
        'train_cfg.max_iters=2',
        'train_cfg.val_interval=2',
        'param_scheduler.0.end=2',
        'train_dataloader.batch_size=2',
        f'train_dataloader.dataset.data_root={mnist_coco}',
        f'val_dataloader.dataset.data_root={mnist_coco}',
        cwd=tmp_path,
    )
    assert osp.isfile(tmp_path / 'iter_2.pth')
    assert 'mIoU:' in log
