"""Every classification recipe builds its model, runs its train pipeline and computes a loss."""

import glob
import os.path as osp

import mmcv
import numpy as np
import pytest
import torch
from mmengine.config import Config
from mmengine.dataset import Compose, pseudo_collate

from kdcl_mm.engine.config_checks import check_kdcl_config
from kdcl_mm.registry import MODELS

CONFIGS = sorted(glob.glob('configs/kdcl/*.py') + glob.glob('configs/baselines/*.py'))


def _pipeline(dataset_cfg):
    while 'pipeline' not in dataset_cfg:
        dataset_cfg = dataset_cfg['dataset']  # HeldOutSplit and other wrappers
    return dataset_cfg['pipeline'], dataset_cfg['type']


def _sample(dataset_type, tmp_path, index):
    rng = np.random.default_rng(index)
    if dataset_type == 'ImageNet':
        path = str(tmp_path / f'img{index}.jpg')
        mmcv.imwrite(rng.integers(0, 255, (80, 96, 3), dtype=np.uint8), path)
        return dict(img_path=path, gt_label=index)
    size = 28 if dataset_type == 'MNISTDigits' else 32
    img = rng.integers(0, 255, (size, size, 3), dtype=np.uint8)
    return dict(img=img, img_shape=img.shape[:2], ori_shape=img.shape[:2], gt_label=index)


def _is_heavy(path):
    return 'imagenet' in path


@pytest.mark.parametrize(
    'path',
    [pytest.param(p, marks=pytest.mark.slow) if _is_heavy(p) else p for p in CONFIGS],
    ids=osp.basename,
)
def test_recipe_builds_and_computes_a_loss(path, tmp_path):
    cfg = Config.fromfile(path)
    check_kdcl_config(cfg)
    model_cfg = cfg.model.to_dict()
    model_cfg.setdefault('data_preprocessor', cfg.get('data_preprocessor'))
    model = MODELS.build(model_cfg)
    pipeline, dataset_type = _pipeline(cfg.train_dataloader.dataset)
    transform = Compose(pipeline)
    batch = pseudo_collate([transform(_sample(dataset_type, tmp_path, i)) for i in range(2)])
    data = model.data_preprocessor(batch, training=True)
    if cfg.model.type == 'KDCL':
        assert isinstance(data['inputs'], list) and len(data['inputs']) == len(model.students)
    losses = model(**data, mode='loss')
    assert losses and all(torch.isfinite(v).all() for k, v in losses.items() if 'loss' in k)
