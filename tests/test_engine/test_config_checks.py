import pytest
from mmengine.config import Config

from kdcl_mm.engine.config_checks import (
    check_deferred_distortion,
    check_export_students_hook,
    check_kdcl_config,
    check_wrapped_dataset_keys,
)

CONFIG = 'configs/kdcl/resnet18-w16_mbv2-w0.5_mnist.py'
GENERAL = 'configs/kdcl/resnet18-w16_mbv2-w0.5_mnist_general.py'


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


def test_config_checks_are_one_tuple_in_a_fixed_order():
    """The one list of checks: not appended to at import time by the modules that define them."""
    from kdcl_mm.engine.config_checks import CONFIG_CHECKS
    from kdcl_mm.engine.runtime.amp_check import check_amp_in_config
    from kdcl_mm.engine.runtime.schedule_check import check_param_schedulers

    assert CONFIG_CHECKS == (
        check_kdcl_config,
        check_deferred_distortion,
        check_export_students_hook,
        check_amp_in_config,
        check_param_schedulers,
        check_wrapped_dataset_keys,
    )


def test_tools_train_runs_the_checks_once_per_launch(tmp_path, monkeypatch):
    """tools/train.py builds the recipe's CheckedRunner, which runs the checks; it does not
    run them a second time itself."""
    import sys

    from mmengine.runner import Runner

    from kdcl_mm.engine import config_checks
    from tools import train

    calls = []
    monkeypatch.setattr(config_checks, 'CONFIG_CHECKS', (calls.append,))

    class Built(Exception):
        pass

    def stop_after_the_checks(cfg):
        raise Built

    monkeypatch.setattr(
        Runner, 'from_cfg', classmethod(lambda cls, cfg: stop_after_the_checks(cfg))
    )
    monkeypatch.setattr(sys, 'argv', ['tools/train.py', CONFIG, '--work-dir', str(tmp_path)])
    with pytest.raises(Built):
        train.main()
    assert len(calls) == 1


def test_a_failed_check_is_a_config_error_with_the_field():
    from kdcl_mm.engine.config_checks import ConfigError, run_config_checks

    cfg = Config.fromfile(CONFIG)
    cfg.train_dataloader.dataset.pipeline[0].num_views = 3
    with pytest.raises(ConfigError, match=r'train_dataloader\.dataset\.pipeline: MultiView'):
        run_config_checks(cfg)


def test_an_override_on_a_wrapped_dataset_names_the_wrapper_and_the_inner_key_path():
    """--cfg-options train_dataloader.dataset.num_labeled=300 on the General recipe, whose
    train dataset is a HeldOutSplit: stopped before anything is built, with the key that
    reaches MNISTDigits and the held-out part's copy that must change with it."""
    from kdcl_mm.engine.config_checks import ConfigError, run_config_checks

    cfg = Config.fromfile(GENERAL)
    cfg.merge_from_dict({'train_dataloader.dataset.num_labeled': 300})
    with pytest.raises(ConfigError) as err:
        run_config_checks(cfg)
    message = str(err.value)
    assert message.startswith(
        'train_dataloader.dataset.num_labeled: train_dataloader.dataset is a HeldOutSplit, '
        'a dataset wrapper that takes only dataset, part, ratio, seed; num_labeled belongs to '
        'the dataset it wraps (MNISTDigits) at train_dataloader.dataset.dataset. Set '
        'train_dataloader.dataset.dataset.num_labeled=300 instead '
        '(--cfg-options train_dataloader.dataset.dataset.num_labeled=300).'
    )
    assert 'wrapped at custom_hooks[1].heldout_dataloader.dataset.dataset too' in message
    # The override the message gives (both copies) passes.
    fixed = Config.fromfile(GENERAL)
    fixed.merge_from_dict(
        {
            'train_dataloader.dataset.dataset.num_labeled': 300,
            'custom_hooks.1.heldout_dataloader.dataset.dataset.num_labeled': 300,
        }
    )
    run_config_checks(fixed)


def test_a_key_under_nested_wrappers_points_at_the_first_dataset_that_takes_it():
    inner = dict(type='MNISTDigits', split='train', pipeline=[])
    split = dict(type='HeldOutSplit', part='train', dataset=inner)
    cfg = Config(dict(train_dataloader=dict(dataset=dict(type='RepeatDataset', times=2))))
    cfg.train_dataloader.dataset.dataset = split
    cfg.train_dataloader.dataset.ratio = 0.2  # HeldOutSplit's key, one level down
    with pytest.raises(
        ValueError, match=r'\(HeldOutSplit\) at train_dataloader\.dataset\.dataset\. '
    ):
        check_wrapped_dataset_keys(cfg)
    del cfg.train_dataloader.dataset.ratio
    cfg.train_dataloader.dataset.num_labeled = 30  # MNISTDigits' key, two levels down
    with pytest.raises(ValueError, match=r'Set train_dataloader\.dataset\.dataset\.dataset\.num_'):
        check_wrapped_dataset_keys(cfg)
    del cfg.train_dataloader.dataset.num_labeled
    check_wrapped_dataset_keys(cfg)


def test_deferred_multi_view_is_checked_as_multi_view():
    from kdcl_mm.engine.config_checks import ConfigError, run_config_checks

    cfg = Config.fromfile(CONFIG)
    cfg.train_dataloader.dataset.pipeline[0].type = 'DeferredMultiView'
    cfg.train_dataloader.dataset.pipeline[1].algorithm_keys = ['view_distortion']
    run_config_checks(cfg)  # one view per student: passes
    cfg.train_dataloader.dataset.pipeline[0].num_views = 3
    with pytest.raises(ConfigError, match=r'pipeline: DeferredMultiView\(num_views=3\) gives 3 '):
        run_config_checks(cfg)


def test_exporting_students_needs_the_checkpoint_hook_whose_checkpoint_it_exports():
    cfg = Config.fromfile('configs/kdcl/r50_mbv2_imagenet.py')
    check_export_students_hook(cfg)
    cfg.default_hooks.checkpoint = None
    with pytest.raises(ValueError, match=r'^default_hooks.checkpoint is not set.*ExportStudents'):
        check_export_students_hook(cfg)
    cfg.custom_hooks = []
    check_export_students_hook(cfg)


IMAGENET = 'configs/kdcl/r50_mbv2_imagenet.py'


def test_deferred_views_whose_pack_inputs_drops_their_rows_are_refused():
    from kdcl_mm.engine.config_checks import ConfigError, run_config_checks

    cfg = Config.fromfile(IMAGENET)
    run_config_checks(cfg)  # as shipped
    cfg.train_dataloader.dataset.pipeline[-1] = dict(type='PackInputs')  # a user's own pipeline
    with pytest.raises(
        ConfigError,
        match=r"pipeline\[2\]: PackInputs\(algorithm_keys=\[\]\) drops the 'view_distortion' "
        r".*use dict\(type='PackInputs', algorithm_keys=\['view_distortion'\]\)",
    ):
        run_config_checks(cfg)
    cfg.train_dataloader.dataset.pipeline.pop()  # no PackInputs after it at all
    with pytest.raises(
        ConfigError, match=r'DeferredMultiView \(item 1\) is not followed by PackInputs'
    ):
        run_config_checks(cfg)


def test_deferred_views_need_a_preprocessor_that_applies_their_rows():
    from kdcl_mm.engine.config_checks import ConfigError, run_config_checks

    cfg = Config.fromfile(IMAGENET)
    cfg.model.data_preprocessor = dict(type='ClsDataPreprocessor', num_classes=1000)
    with pytest.raises(
        ConfigError,
        match=r"model.data_preprocessor is 'ClsDataPreprocessor', which does not apply "
        r"DeferredMultiView's 'view_distortion' rows.*MultiViewClsDataPreprocessor",
    ):
        run_config_checks(cfg)
    cfg.model.data_preprocessor = dict(type='MultiViewClsDataPreprocessor', num_classes=1000)
    run_config_checks(cfg)
