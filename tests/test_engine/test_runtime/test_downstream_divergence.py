"""The divergence guard in kdcl_mm's mmdet runtime: a detector fine-tuned from a bad exported
student stops before training and says that the checkpoint is at fault, naming the file."""

import os.path as osp

import pytest
import torch

from kdcl_mm.engine.runtime.divergence_guard import DivergenceError
from tests.paths import CONFIGS, REPO

DETECTOR = osp.join(CONFIGS, 'mmdet', 'faster-rcnn_r18-w16_fpn_mnist-coco.py')
TEMPLATE = osp.join(REPO, 'tests', 'fixtures', 'configs', 'tiny_faster_rcnn_mnist_coco.py.in')


def exported_student(path, spoil):
    """An exported ResNet-18 student (keys backbone.*, as tools/export_students.py writes),
    of the width the tiny detector template uses, spoilt by ``spoil(state_dict)``."""
    from mmpretrain.models import ResNet

    torch.manual_seed(0)
    state = {
        f'backbone.{k}': v
        for k, v in ResNet(18, stem_channels=8, base_channels=8).state_dict().items()
    }
    spoil(state)
    torch.save(state, path)
    return str(path)


def nan_weight(state):
    state['backbone.layer2.0.conv1.weight'][0, 0, 0, 0] = float('nan')


def overflowing_stem(state):
    state['backbone.conv1.weight'].fill_(3e38)  # finite; its outputs are not


@pytest.mark.slow
@pytest.mark.parametrize(
    'spoil,expected',
    [
        (
            nan_weight,
            r"module 'backbone' \(backbone.layer2.0.conv1.weight\): they come from the "
            r'checkpoint that model.backbone loads \(init_cfg.checkpoint=.*bad.pth',
        ),
        (
            overflowing_stem,
            'model.backbone, loaded from init_cfg.checkpoint=.*bad.pth.*, turns '
            'the finite first training batch into non-finite features',
        ),
    ],
    ids=['non-finite-weights', 'non-finite-features'],
)
def test_a_bad_backbone_checkpoint_is_named(tmp_path, mnist_coco, spoil, expected):
    from mmengine.config import Config
    from mmengine.runner import Runner

    student = exported_student(tmp_path / 'bad.pth', spoil)
    with open(TEMPLATE) as f:
        text = f.read().format(base=DETECTOR, student=student, data=mnist_coco.rstrip('/'))
    (tmp_path / 'tiny.py').write_text(text)
    cfg = Config.fromfile(tmp_path / 'tiny.py')
    cfg.work_dir = str(tmp_path / 'work')
    with pytest.raises(DivergenceError, match=expected):
        Runner.from_cfg(cfg).train()
    assert not list((tmp_path / 'work').glob('*.pth'))  # nothing trained, nothing saved
