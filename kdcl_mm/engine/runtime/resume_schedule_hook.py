"""On resume, take the schedule's shape from the config and only its progress from the
checkpoint."""

from mmengine.hooks import Hook
from mmengine.registry import HOOKS

#: Scheduler attributes that define the schedule (set from the config when it is built,
#: ``end`` defaulting to ``max_epochs``); everything else (steps taken, base and last values)
#: is progress and comes from the checkpoint.
SHAPE_KEYS = ('begin', 'end', 'T_max')


@HOOKS.register_module()
class ResumeScheduleHook(Hook):
    """Make a resumed run follow the schedule of the config it is resumed with.

    mmengine restores a scheduler by overwriting all its attributes with the checkpoint's,
    including the ``end`` it got from the old ``max_epochs``: a run resumed with a larger
    ``train_cfg.max_epochs`` would keep decaying towards the old end. This hook drops
    ``begin``, ``end`` and ``T_max`` from the checkpoint's scheduler states before they are
    loaded. With an unchanged config the values are identical, so exact resume is unaffected.
    """

    priority = 'VERY_HIGH'

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        saved = checkpoint.get('param_schedulers')
        if not getattr(runner, '_resume', False) or saved is None:
            return
        built = runner.param_schedulers
        if isinstance(saved, dict):
            pairs = [
                (saved[name], built.get(name, []) if isinstance(built, dict) else [])
                for name in saved
            ]
        else:
            pairs = [(saved, built if isinstance(built, list) else [])]
        for states, schedulers in pairs:
            for i, state in enumerate(states):
                scheduler = schedulers[i] if i < len(schedulers) else None
                for key in SHAPE_KEYS:
                    old = state.pop(key, None)
                    new = getattr(scheduler, key, None)
                    if scheduler is not None and old is not None and old != new:
                        runner.logger.info(
                            f'Resumed {type(scheduler).__name__}: {key} {old} -> {new} from '
                            'the config (the checkpoint keeps only its progress).'
                        )
