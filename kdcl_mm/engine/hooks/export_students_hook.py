"""Export every KDCL student as a standalone classifier when training ends."""

import os.path as osp
from typing import Optional

from mmengine.dist import is_main_process
from mmengine.hooks import CheckpointHook, Hook

from kdcl_mm.engine.student_export import export_students
from kdcl_mm.registry import HOOKS


@HOOKS.register_module()
class ExportStudentsHook(Hook):
    """After training, split the final (or best) KDCL checkpoint into one file per student.

    Args:
        out_dir: where ``<name>.pth`` / ``<name>.py`` go; ``<work_dir>/students`` by default.
        from_best: export the checkpoint hook's best checkpoint (``save_best``) instead of
            the last one.
    """

    priority = 'LOWEST'  # after CheckpointHook

    def __init__(self, out_dir: Optional[str] = None, from_best: bool = False):
        self.out_dir = out_dir
        self.from_best = from_best

    def before_train(self, runner) -> None:
        checkpoint_hooks = [h for h in runner.hooks if isinstance(h, CheckpointHook)]
        if not checkpoint_hooks:
            # A recipe's training refuses this before building (config_checks); a runner built
            # without checkpoints on purpose (mmpretrain's vis_scheduler.py) still runs.
            runner.logger.warning(
                'ExportStudentsHook: no CheckpointHook is configured, so no student will be '
                'exported; set default_hooks.checkpoint to export them.'
            )
            return
        save_best = checkpoint_hooks[0].save_best
        if self.from_best and (save_best is None or len(checkpoint_hooks[0].key_indicators) != 1):
            raise ValueError(
                'ExportStudentsHook(from_best=True) needs exactly one metric in '
                "default_hooks.checkpoint.save_best, e.g. save_best='ensemble/top1'."
            )

    def after_train(self, runner) -> None:
        # Train end: the loop has saved its last checkpoint; test-only runs never get here.
        if not is_main_process():
            return
        key = 'best_ckpt' if self.from_best else 'last_ckpt'
        checkpoint = runner.message_hub.get_info(key)
        if checkpoint is None:
            runner.logger.warning(
                f'ExportStudentsHook: no {key.replace("_", " ")} was saved, nothing to export.'
            )
            return
        out_dir = self.out_dir or osp.join(runner.work_dir, 'students')
        runner.logger.info(f'Exporting the students of {checkpoint} to {out_dir}')
        # This run's exports replace those of an earlier (e.g. resumed) run.
        export_students(checkpoint, out_dir, overwrite=True)
