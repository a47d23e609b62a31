"""A Runner that validates the config before building anything from it."""

from typing import Callable, List

from mmengine.config import Config
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from ..config_checks import check_kdcl_config

#: Checks run on every config, in order; each raises ValueError naming the field and the fix.
#: Other modules append theirs (schedules, mixed precision) when they are imported.
CONFIG_CHECKS: List[Callable[[Config], None]] = [check_kdcl_config]


@RUNNERS.register_module()
class CheckedRunner(Runner):
    """mmengine's Runner, after :data:`CONFIG_CHECKS` pass on the config.

    kdcl_mm's recipes set ``runner_type = 'CheckedRunner'``, which every OpenMMLab entry point
    honours (mmpretrain's ``tools/train.py`` builds ``RUNNERS.build(cfg)`` when the key is
    set), so a mistake stops before data, model or hooks are built, whoever launched it.
    Registered in mmengine's root registry: entry points build runners before any default
    scope exists, and the root is what they look in.
    """

    @classmethod
    def from_cfg(cls, cfg: Config) -> 'CheckedRunner':
        for check in CONFIG_CHECKS:
            check(cfg)
        return super().from_cfg(cfg)
