"""Linear ramp-up of the KD weight over early training (as in ONE, Lan et al. 2018)."""

from mmengine.hooks import Hook

from kdcl_mm.registry import HOOKS
from kdcl_mm.utils.wrappers import unwrap


@HOOKS.register_module()
class KDWarmupHook(Hook):
    """Scale ``kd_loss`` by ``min(1, progress / length)``; progress in epochs or iterations.

    Off by default in the recipes: KDCL's paper trains with the full KD weight.
    """

    def __init__(self, length: float, by_epoch: bool = True):
        if not length > 0:
            raise ValueError(f'KDWarmupHook.length must be > 0 epochs/iterations, got {length}')
        self.length, self.by_epoch = float(length), by_epoch

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        if self.by_epoch:
            progress = runner.epoch + batch_idx / max(1, len(runner.train_dataloader))
        else:
            progress = runner.iter
        unwrap(runner.model).kd_loss.ramp = min(1.0, progress / self.length)
