"""A Runner that validates the config before building anything from it."""

from typing import Optional

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

    def register_default_hooks(self, hooks: Optional[dict] = None) -> None:
        """mmengine's, where ``None`` also turns off a default hook that mmengine does not
        define itself: ``default_hooks = dict(divergence_guard=None)`` removes the guard of
        kdcl_mm's runtime the way ``dict(checkpoint=None)`` removes mmengine's checkpointing
        (mmengine asserts on ``None`` under any other name)."""
        if hooks is not None:
            hooks = {
                name: hook
                for name, hook in hooks.items()
                if hook is not None or name in MMENGINE_DEFAULT_HOOKS
            }
        super().register_default_hooks(hooks)


#: The default hooks that mmengine's ``Runner.register_default_hooks`` itself defines, and that
#: ``None`` removes there.
MMENGINE_DEFAULT_HOOKS = (
    'runtime_info',
    'timer',
    'sampler_seed',
    'logger',
    'param_scheduler',
    'checkpoint',
)
