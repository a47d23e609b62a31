"""GeneralWeightsHook's configuration errors.

Its estimates over a whole run: tests/integration/test_kdcl_end_to_end.py; the estimate
itself: tests/test_engine/test_general_weights.py.
"""

from types import SimpleNamespace

import pytest
import torch.nn as nn

from kdcl_mm.registry import HOOKS, MODELS


def test_general_weights_hook_needs_a_dataloader_config():
    with pytest.raises(ValueError, match='heldout_dataloader must be a dataloader config'):
        HOOKS.build(dict(type='GeneralWeightsHook', heldout_dataloader=None))


def test_general_weights_hook_with_another_generator_is_an_error():
    model = nn.Module()
    model.soft_target = MODELS.build(dict(type='MeanSoftTarget'))
    hook = HOOKS.build(dict(type='GeneralWeightsHook', heldout_dataloader=dict(dataset=dict())))
    with pytest.raises(
        ValueError, match='MeanSoftTarget; remove the hook or use GeneralSoftTarget'
    ):
        hook.before_train(SimpleNamespace(model=model))
