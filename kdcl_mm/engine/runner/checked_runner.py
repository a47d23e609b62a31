"""A Runner that validates the config before building anything from it."""

from mmengine.config import Config
from mmengine.registry import RUNNERS
from mmengine.runner import Runner

from ..config_checks import run_config_checks


@RUNNERS.register_module()
class CheckedRunner(Runner):
    """mmengine's Runner, after :data:`~kdcl_mm.engine.config_checks.CONFIG_CHECKS` pass.

    kdcl_mm's recipes set ``runner_type = 'CheckedRunner'``, which every OpenMMLab entry point
    honours (mmpretrain's ``tools/train.py`` builds ``RUNNERS.build(cfg)`` when the key is
    set), so a mistake stops before data, model or hooks are built, whoever launched it.
    Registered in mmengine's root registry: entry points build runners before any default
    scope exists, and the root is what they look in.
    """

    @classmethod
    def from_cfg(cls, cfg: Config) -> 'CheckedRunner':
        run_config_checks(cfg)
        return super().from_cfg(cfg)
