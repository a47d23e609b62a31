"""The pinned OpenMMLab stack works on this machine: compiled ops and stock models train."""

import subprocess
import sys

import pytest
import torch


def test_versions_are_the_supported_ones():
    from kdcl_mm.utils.check_env import check

    assert check() == []


def test_mmcv_compiled_nms_and_roi_align():
    import mmcv._ext  # noqa: F401  (the compiled extension itself)
    from mmcv.ops import RoIAlign, nms

    boxes = torch.tensor([[0.0, 0.0, 10.0, 10.0], [1.0, 1.0, 11.0, 11.0], [50.0, 50.0, 60.0, 60.0]])
    scores = torch.tensor([0.9, 0.8, 0.7])
    dets, keep = nms(boxes, scores, iou_threshold=0.5)
    assert keep.tolist() == [0, 2]  # IoU(0, 1) = 81/119 > 0.5
    assert torch.allclose(dets[:, 4], torch.tensor([0.9, 0.7]))
    # A constant feature map pools to that constant; a ramp in x pools to the box centre's x.
    feat = torch.arange(8.0).repeat(8, 1)[None, None]  # value = x coordinate
    roi = torch.tensor([[0.0, 2.0, 2.0, 6.0, 6.0]])
    out = RoIAlign((2, 2), spatial_scale=1.0, sampling_ratio=2, aligned=False)(feat, roi)
    assert out.shape == (1, 1, 2, 2)
    assert torch.allclose(out.mean(), torch.tensor(4.0), atol=1e-4)


def _one_step(model, data):
    from mmengine.optim import OptimWrapper

    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=1e-3))
    before = [p.detach().clone() for p in model.parameters() if p.requires_grad]
    log_vars = model.train_step(data, optim)
    after = [p for p in model.parameters() if p.requires_grad]
    assert torch.isfinite(log_vars['loss'])
    assert any(not torch.equal(b, a) for b, a in zip(before, after))
    return log_vars


@pytest.mark.slow
def test_stock_faster_rcnn_trains_one_step():
    from mmdet.structures import DetDataSample
    from mmdet.utils import register_all_modules
    from mmengine.hub import get_config
    from mmengine.registry import init_default_scope
    from mmengine.structures import InstanceData

    register_all_modules()
    init_default_scope('mmdet')
    from mmdet.registry import MODELS

    cfg = get_config('mmdet::faster_rcnn/faster-rcnn_r50_fpn_1x_coco.py')
    cfg.model.backbone.init_cfg = None
    model = MODELS.build(cfg.model)
    samples = []
    for _ in range(2):
        s = DetDataSample(
            metainfo=dict(
                img_shape=(160, 160),
                ori_shape=(160, 160),
                pad_shape=(160, 160),
                scale_factor=(1.0, 1.0),
            )
        )
        s.gt_instances = InstanceData(
            bboxes=torch.tensor([[10.0, 20.0, 90.0, 120.0]]), labels=torch.tensor([3])
        )
        samples.append(s)
    data = dict(
        inputs=[torch.randint(0, 255, (3, 160, 160), dtype=torch.uint8)] * 2, data_samples=samples
    )
    log_vars = _one_step(model, data)
    assert {'loss_rpn_cls', 'loss_cls', 'loss_bbox'} <= set(log_vars)


@pytest.mark.slow
def test_stock_mmseg_fpn_trains_one_step():
    from mmengine.hub import get_config
    from mmengine.registry import init_default_scope
    from mmengine.structures import PixelData
    from mmseg.structures import SegDataSample
    from mmseg.utils import register_all_modules

    register_all_modules()
    init_default_scope('mmseg')
    from mmseg.registry import MODELS

    cfg = get_config('mmseg::sem_fpn/fpn_r50_4xb4-160k_ade20k-512x512.py')
    cfg.model.pretrained = None
    cfg.model.data_preprocessor.size = (64, 64)
    cfg.model.backbone.norm_cfg = dict(
        type='BN', requires_grad=True
    )  # SyncBN needs a process group
    cfg.model.decode_head.norm_cfg = dict(type='BN', requires_grad=True)
    model = MODELS.build(cfg.model)
    samples = []
    for _ in range(2):
        s = SegDataSample(metainfo=dict(img_shape=(64, 64), ori_shape=(64, 64), pad_shape=(64, 64)))
        s.gt_sem_seg = PixelData(data=torch.randint(0, 150, (1, 64, 64)))
        samples.append(s)
    data = dict(
        inputs=[torch.randint(0, 255, (3, 64, 64), dtype=torch.uint8)] * 2, data_samples=samples
    )
    assert 'decode.loss_ce' in _one_step(model, data)


@pytest.mark.parametrize(
    'config',
    [
        'mmpretrain::resnet/resnet50_8xb32_in1k.py',
        'mmpretrain::mobilenet_v2/mobilenet-v2_8xb32_in1k.py',
    ],
)
def test_stock_mmpretrain_classifiers_train_one_step(config):
    from mmengine.hub import get_config
    from mmpretrain.registry import MODELS
    from mmpretrain.structures import DataSample

    cfg = get_config(config)
    model = MODELS.build(dict(cfg.model, data_preprocessor=cfg.data_preprocessor))
    data = dict(
        inputs=[torch.randint(0, 255, (3, 64, 64), dtype=torch.uint8)] * 2,
        data_samples=[DataSample().set_gt_label(i) for i in (1, 7)],
    )
    assert 'loss' in _one_step(model, data)


def test_kdcl_mm_scope_resolves_without_importing_kdcl_mm(tmp_path):
    """A downstream config parsed before kdcl_mm is imported (kdcl_mm.pth does the work)."""
    cfg = tmp_path / 'downstream.py'
    cfg.write_text(
        "_base_ = 'kdcl_mm::kdcl/r50_mbv2_imagenet.py'\n"
        'model = dict(kd_loss=dict(temperature=3.0))\n'
    )
    code = (
        'import sys; from mmengine.config import Config; '
        f'c = Config.fromfile({str(cfg)!r}, import_custom_modules=False); '
        "assert 'kdcl_mm' not in sys.modules; "
        'print(c.model.type, c.model.kd_loss.temperature, c.model.soft_target.type)'
    )
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ['KDCL', '3.0', 'MinLogitSoftTarget']
