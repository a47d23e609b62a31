"""configs/_base_/default_runtime.py: what every classification recipe's log shows."""

import glob
from types import SimpleNamespace

import pytest
from mmengine.config import Config
from mmengine.logging import MessageHub
from mmengine.registry import LOG_PROCESSORS

CONFIGS = sorted(glob.glob('configs/kdcl/*.py') + glob.glob('configs/baselines/*.py'))


def _logged(cfg: Config, history, hub_name: str) -> dict:
    """What the config's log processor shows at a logged iteration after ``history``."""
    processor = LOG_PROCESSORS.build(dict(type='LogProcessor', **cfg.get('log_processor', {})))
    hub = MessageHub.get_instance(hub_name)  # a fresh history per call
    for name, values in history.items():
        for value in values:
            hub.update_scalar(f'train/{name}', value)
    return processor._collect_scalars([], SimpleNamespace(message_hub=hub), 'train')


@pytest.mark.parametrize('path', CONFIGS)
def test_a_nan_batch_anywhere_between_logged_iterations_shows_in_the_log(path):
    cfg = Config.fromfile(path)
    interval = cfg.default_hooks.logger.interval
    assert cfg.log_processor.window_size == interval, 'the window must cover the interval'
    # The student's logits were non-finite on 12 samples of the interval's first batch.
    counts = [12.0] + [0.0] * (interval - 1)
    logged = _logged(
        cfg, {'resnet18.nonfinite': counts, 'resnet18.loss_ce': [1.0] * interval}, path
    )
    assert logged['resnet18.nonfinite'] == pytest.approx(12.0 / interval)
    assert logged['resnet18.loss_ce'] == pytest.approx(1.0)


def test_mmengines_default_would_log_only_the_logged_iterations_count():
    # Why the recipes set mean_pattern: without it, the NaN batch above is logged as 0.
    logged = _logged(Config(), {'resnet18.nonfinite': [0.0, 12.0, 0.0]}, 'mmengine default')
    assert logged['resnet18.nonfinite'] == 0.0


def _without_scope(node):
    if isinstance(node, dict):
        return {k: _without_scope(v) for k, v in node.items() if k != '_scope_'}
    if isinstance(node, list):
        return [_without_scope(v) for v in node]
    return node


@pytest.mark.parametrize('path', CONFIGS)
def test_the_visualizer_is_mmpretrains_without_the_scope_key_browse_dataset_refuses(path):
    from mmengine.hub import get_config

    visualizer = Config.fromfile(path).visualizer.to_dict()
    assert '_scope_' not in visualizer
    upstream = get_config('mmpretrain::_base_/default_runtime.py').visualizer.to_dict()
    assert visualizer == _without_scope(upstream)
