import pytest
from mmengine.config import Config

from kdcl_mm.engine.config_checks import check_kdcl_config

CONFIG = 'configs/kdcl/resnet18-w16_mbv2-w0.5_mnist.py'


def test_the_shipped_configs_pass():
    for path in [
        CONFIG,
        'configs/kdcl/r50_mbv2_imagenet_general.py',
        'configs/kdcl/r50_r18_mbv2_imagenet.py',
    ]:
        check_kdcl_config(Config.fromfile(path))


def test_views_must_match_students():
    cfg = Config.fromfile(CONFIG)
    cfg.train_dataloader.dataset.pipeline[0].num_views = 3
    with pytest.raises(ValueError, match=r'MultiView\(num_views=3\).*has 2 students.*num_views=2'):
        check_kdcl_config(cfg)


def test_general_needs_its_held_out_hook():
    cfg = Config.fromfile(CONFIG)
    cfg.model.soft_target = dict(type='GeneralSoftTarget')
    with pytest.raises(ValueError, match='GeneralWeightsHook'):
        check_kdcl_config(cfg)


def test_the_recipes_runner_checks_the_config_under_any_entry_point(tmp_path):
    """runner_type='CheckedRunner' (shared runtime): RUNNERS.build, as mmpretrain's
    tools/train.py calls it, stops on a config mistake before building anything."""
    from mmengine.registry import RUNNERS

    cfg = Config.fromfile(CONFIG)
    assert cfg.runner_type == 'CheckedRunner'
    cfg.work_dir = str(tmp_path / 'never_created')
    cfg.train_dataloader.dataset.pipeline[0].num_views = 3
    with pytest.raises(ValueError, match=r'MultiView\(num_views=3\).*has 2 students'):
        RUNNERS.build(cfg)
    assert not (tmp_path / 'never_created').exists()
