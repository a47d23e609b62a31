"""Re-estimate GeneralSoftTarget's ensemble weights on held-out data once per epoch."""

import torch
from mmengine.hooks import Hook

from kdcl_mm.engine.general_weights import estimate_general_weights
from kdcl_mm.registry import HOOKS
from kdcl_mm.utils.wrappers import unwrap


@HOOKS.register_module()
class GeneralWeightsHook(Hook):
    """Ensemble weights (model.soft_target.weighting) from the students' held-out errors.

    Runs before every ``interval``-th training epoch (the weights are then stale until
    the next one, as in the paper). Error products are summed on every rank and
    all-reduced, so all ranks compute identical weights. The weights live in a buffer
    of the generator, so checkpoints save them and resuming restores them.

    Args:
        heldout_dataloader: dataloader config over the held-out part, typically
            ``HeldOutSplit(part='heldout')`` with the test pipeline (one view).
        interval: epochs between estimates.
    """

    priority = 'NORMAL'

    def __init__(self, heldout_dataloader: dict, interval: int = 1):
        if not isinstance(heldout_dataloader, dict) or 'dataset' not in heldout_dataloader:
            raise ValueError(
                'GeneralWeightsHook.heldout_dataloader must be a dataloader config with a '
                "dataset, e.g. dict(batch_size=64, dataset=dict(type='HeldOutSplit', "
                "part='heldout', ...), sampler=dict(type='DefaultSampler', shuffle=False))"
            )
        self.heldout_dataloader = heldout_dataloader
        self.interval = interval
        self.history = []  # (epoch, weights) for plots and logs

    def before_train(self, runner) -> None:
        generator = unwrap(runner.model).soft_target
        if not getattr(generator, 'requires_heldout', False):
            raise ValueError(
                'GeneralWeightsHook is configured but model.soft_target is '
                f'{type(generator).__name__}; remove the hook or use GeneralSoftTarget.'
            )
        self._loader = runner.build_dataloader(self.heldout_dataloader, seed=runner.seed)

    def before_train_epoch(self, runner) -> None:
        if getattr(runner.train_loop, 'iter_in_epoch', 0) > 0:
            return  # resumed mid-epoch: the checkpoint holds the weights this epoch started with
        if runner.epoch % self.interval == 0:
            self.estimate(runner)

    def estimate(self, runner) -> torch.Tensor:
        model = unwrap(runner.model)
        weights, count = estimate_general_weights(model, self._loader)
        model.soft_target.set_weights(weights)
        self.history.append((runner.epoch, weights.tolist()))
        listed = ', '.join(f'{n}={w:.4f}' for n, w in zip(model.student_names, weights.tolist()))
        runner.logger.info(
            'GeneralSoftTarget weights (epoch %d, %d held-out samples): %s',
            runner.epoch,
            count,
            listed,
        )
        for name, w in zip(model.student_names, weights.tolist()):
            runner.message_hub.update_scalar(f'train/general_weight/{name}', w)
        intensity = getattr(model.soft_target, 'last_intensity', None)
        if intensity is not None:  # weighting='shrinkage'
            runner.logger.info('GeneralSoftTarget shrinkage intensity: %.4f', intensity)
            runner.message_hub.update_scalar('train/general_shrinkage', intensity)
        return weights
