"""The commands of the README's "Train on your data", in miniature on real photos in the
formats users have: configs/kdcl/r50_mbv2_imagenet.py by tools/train.py on an ImageNet-format
folder of JPEGs (train both students, validate them and their ensemble, keep the best, export
each student), then configs/mmdet/faster-rcnn_r50-kdcl_fpn_1x_coco.py and
configs/mmseg/fpn_r50-kdcl_4xb4-80k_coco-stuff164k-512x512.py by tools/dist_train.sh (on CPU:
its gloo fallback) on COCO- and COCO-Stuff-format folders, the backbone loaded from the
exported ResNet-50."""

import json
import math
import os
import subprocess
import sys

import cv2
import numpy as np
import pytest
import torch
from mmdet.datasets import CocoDataset
from mmengine.hub import get_config

from kdcl_mm.registry import MODELS
from tests.fixtures.photos import imagenet_folder, write_crops
from tests.paths import REPO

pytestmark = pytest.mark.slow

STUDENTS = {
    'resnet50': 'mmpretrain::resnet/resnet50_8xb32_in1k.py',
    'mobilenet_v2': 'mmpretrain::mobilenet_v2/mobilenet-v2_8xb32_in1k.py',
}

# COCO 2017's category ids of its 80 classes, in mmdet's order (1-90 with gaps).
COCO_IDS = [*range(1, 12), *range(13, 26), 27, 28, *range(31, 45), *range(46, 66), 67, 70]
COCO_IDS += [*range(72, 83), *range(84, 91)]


def run(command, work_dir, options, env=None):
    proc = subprocess.run(
        [*command, '--work-dir', str(work_dir), '--cfg-options']
        + [f'{key}={value}' for key, value in options.items()],
        cwd=REPO,
        env=dict(os.environ, PYTHONPATH=REPO, **(env or {})),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        timeout=900,
    )
    assert proc.returncode == 0, proc.stdout[-3000:]
    [log] = work_dir.glob('*/vis_data/scalars.json')
    return [json.loads(line) for line in log.read_text().splitlines()]


def coco_folder(root, size=160) -> str:
    """The layout of mmdet's COCO configs: {train,val}2017/ of JPEGs and
    annotations/instances_{train,val}2017.json with COCO's 80 categories and one 'person'
    box per photo (the photo is a portrait)."""
    for split, count in (('train2017', 2), ('val2017', 2)):
        names = [f'{split}_{i:012d}.jpg' for i in range(count)]
        os.makedirs(root / split)
        write_crops([root / split / name for name in names], size=size)
        box = [size * 0.1, size * 0.05, size * 0.8, size * 0.9]
        coco = {
            'images': [
                dict(id=i + 1, file_name=name, width=size, height=size)
                for i, name in enumerate(names)
            ],
            'annotations': [
                dict(
                    id=i + 1,
                    image_id=i + 1,
                    category_id=1,
                    bbox=box,
                    area=box[2] * box[3],
                    iscrowd=0,
                )
                for i in range(count)
            ],
            'categories': [
                dict(id=i, name=name) for i, name in zip(COCO_IDS, CocoDataset.METAINFO['classes'])
            ],
        }
        os.makedirs(root / 'annotations', exist_ok=True)
        (root / 'annotations' / f'instances_{split}.json').write_text(json.dumps(coco))
    return str(root) + '/'


def coco_stuff_folder(root, size=160) -> str:
    """The layout of mmseg's COCO-Stuff164k: images/{train,val}2017/*.jpg and
    annotations/{train,val}2017/*_labelTrainIds.png (class 0 'person' on the portrait, 255
    ignored elsewhere)."""
    label = np.full((size, size), 255, np.uint8)
    label[size // 20 :, size // 10 : size * 9 // 10] = 0
    for split, count in (('train2017', 2), ('val2017', 2)):
        names = [f'{i:012d}' for i in range(count)]
        os.makedirs(root / 'images' / split)
        os.makedirs(root / 'annotations' / split)
        write_crops([root / 'images' / split / f'{n}.jpg' for n in names], size=size)
        for n in names:
            assert cv2.imwrite(str(root / 'annotations' / split / f'{n}_labelTrainIds.png'), label)
    return str(root)


@pytest.fixture(scope='module')
def imagenet_run(tmp_path_factory):
    root = tmp_path_factory.mktemp('readme')
    data_root, work_dir = imagenet_folder(root / 'imagenet'), root / 'work'
    records = run(
        [sys.executable, 'tools/train.py', 'configs/kdcl/r50_mbv2_imagenet.py'],
        work_dir,
        {
            'train_dataloader.dataset.data_root': data_root,
            'val_dataloader.dataset.data_root': data_root,
            'train_dataloader.batch_size': 2,  # 8 photos: 4 iterations
            'val_dataloader.batch_size': 2,
            'train_dataloader.num_workers': 2,
            'val_dataloader.num_workers': 1,
            'train_cfg.max_epochs': 1,
            'default_hooks.logger.interval': 1,
            'randomness.seed': 0,
            # At the recipe's lr (0.1 for 256 images) 4 steps leave ResNet-50's BN running
            # statistics far from its features, and the detector's frozen-BN backbone then
            # starts at a loss of ~1e18. A user's student has seen ImageNet.
            'optim_wrapper.optimizer.lr': 0.001,
        },
    )
    return work_dir, records


def test_the_imagenet_recipe_trains_validates_and_exports_on_an_imagenet_folder(imagenet_run):
    work_dir, records = imagenet_run
    train = [r for r in records if 'loss' in r]
    assert [r['iter'] for r in train] == [1, 2, 3, 4]
    for name in STUDENTS:
        for term in ('loss_ce', 'loss_kd'):
            assert all(math.isfinite(r[f'{name}.{term}']) for r in train), (name, term)
    [val] = [r for r in records if 'ensemble/top1' in r]
    for model in (*STUDENTS, 'ensemble'):
        for k in ('top1', 'top5'):
            assert 0 <= val[f'{model}/{k}'] <= 100, (model, k)
    assert (work_dir / 'best_ensemble_top1_epoch_1.pth').exists()

    trained = torch.load(work_dir / 'epoch_1.pth', weights_only=False)['state_dict']
    for index, (name, config) in enumerate(STUDENTS.items()):
        student = MODELS.build(get_config(config).model)
        exported = torch.load(work_dir / 'students' / f'{name}.pth', weights_only=False)
        student.load_state_dict(exported['state_dict'], strict=True)
        for key, value in exported['state_dict'].items():
            assert torch.equal(value, trained[f'students.{index}.{key}']), (name, key)


def test_the_coco_detector_trains_from_the_exported_resnet50_on_a_coco_folder(
    imagenet_run, tmp_path
):
    student = imagenet_run[0] / 'students' / 'resnet50.pth'
    data_root, work_dir = coco_folder(tmp_path / 'coco'), tmp_path / 'work'
    records = run(
        ['bash', 'tools/dist_train.sh', 'configs/mmdet/faster-rcnn_r50-kdcl_fpn_1x_coco.py', '1'],
        work_dir,
        {
            'model.backbone.init_cfg.checkpoint': student,
            'train_dataloader.dataset.data_root': data_root,
            'val_dataloader.dataset.data_root': data_root,
            'val_evaluator.ann_file': data_root + 'annotations/instances_val2017.json',
            'train_dataloader.num_workers': 1,
            'val_dataloader.num_workers': 1,
            'train_cfg.max_epochs': 1,
            'default_hooks.logger.interval': 1,
            # After one step no class scores 0.05 (1/81 each): keep every box, so the
            # COCO evaluation has detections to score.
            'model.test_cfg.rcnn.score_thr': 0.0,
        },
        env={'PYTHON': sys.executable},
    )
    [train] = [r for r in records if 'loss' in r]  # 2 photos, 2 per batch
    # Started from sane weights, the first losses are those of an untrained head (ln 81 = 4.4).
    assert all(math.isfinite(train[k]) for k in ('loss_rpn_cls', 'loss_cls', 'loss_bbox'))
    assert train['loss'] < 20
    [val] = [r for r in records if 'coco/bbox_mAP' in r]
    assert 0 <= val['coco/bbox_mAP'] <= 1

    # mmdet's R50 freezes the stem and the first stage (frozen_stages=1, norm_eval): after
    # training they are still exactly the exported student's; the last stage has moved.
    exported = torch.load(student, weights_only=False)['state_dict']
    detector = torch.load(work_dir / 'epoch_1.pth', weights_only=False)['state_dict']
    frozen = [
        k
        for k in exported
        if k.startswith(('backbone.conv1.', 'backbone.bn1.', 'backbone.layer1.'))
    ]
    assert frozen and all(torch.equal(detector[k], exported[k]) for k in frozen)
    trained = 'backbone.layer4.2.conv3.weight'
    assert not torch.equal(detector[trained], exported[trained])


def test_the_segmentor_trains_from_the_exported_resnet50_on_a_coco_stuff_folder(
    imagenet_run, tmp_path
):
    student = imagenet_run[0] / 'students' / 'resnet50.pth'
    data_root, work_dir = coco_stuff_folder(tmp_path / 'coco_stuff164k'), tmp_path / 'work'
    records = run(
        [
            'bash',
            'tools/dist_train.sh',
            'configs/mmseg/fpn_r50-kdcl_4xb4-80k_coco-stuff164k-512x512.py',
            '1',
        ],
        work_dir,
        {
            'model.backbone.init_cfg.checkpoint': student,
            'train_dataloader.dataset.data_root': data_root,
            'val_dataloader.dataset.data_root': data_root,
            'train_dataloader.batch_size': 2,
            'train_dataloader.num_workers': 1,
            'val_dataloader.num_workers': 1,
            'train_cfg.max_iters': 2,
            'train_cfg.val_interval': 2,
            'default_hooks.checkpoint.interval': 2,
            'default_hooks.logger.interval': 1,
        },
        env={'PYTHON': sys.executable},
    )
    train = [r for r in records if 'loss' in r]
    assert [r['iter'] for r in train] == [1, 2]
    assert all(math.isfinite(r['decode.loss_ce']) for r in train)
    [val] = [r for r in records if 'mIoU' in r]
    assert 0 <= val['mIoU'] <= 100
    # The recipe's SyncBN ran as BN on CPU; the names, and so the student's keys, are kept.
    exported = torch.load(student, weights_only=False)['state_dict']
    segmentor = torch.load(work_dir / 'iter_2.pth', weights_only=False)['state_dict']
    backbone = {k for k in exported if k.startswith('backbone.')}  # the rest: the ImageNet head
    assert {k for k in segmentor if k.startswith('backbone.')} == backbone
