"""Estimate GeneralSoftTarget's ensemble weights on held-out data, without a Runner.

The GeneralWeightsHook calls this once per epoch; benchmarks and analysis tools call it
directly on a built model and dataloader.
"""

from typing import Iterable, Tuple

import torch
import torch.nn.functional as F
from mmengine.dist import all_reduce
from torch import Tensor

from kdcl_mm.models.helpers import hard_labels


@torch.no_grad()
def estimate_general_weights(model, dataloader: Iterable) -> Tuple[Tensor, int]:
    """Perrone–Cooper weights of ``model.soft_target`` from the students' held-out errors.

    The model is put in eval mode for the pass (held-out data must not move BN statistics)
    and its previous train/eval mode is restored afterwards, also on error. Error products
    are summed over batches, then the sums and the sample count are all-reduced, so every
    rank computes identical weights (a no-op outside distributed runs). The weights are
    returned, not set: the caller decides (``model.soft_target.set_weights``). A held-out
    split with fewer samples than students raises ValueError (naming ``heldout``); a small
    one warns once (``GeneralSoftTarget.check_heldout_size``).

    Args:
        model: the unwrapped KDCL model (``kdcl_mm.models.helpers.unwrap``) whose
            ``soft_target`` is a ``GeneralSoftTarget``.
        dataloader: batches of the held-out split, as the model's data preprocessor takes them.

    Returns:
        (weights, count): the (N,) weights in the generator's buffer dtype/device, and the
        number of held-out samples summed over all ranks.
    """
    generator = model.soft_target
    if not getattr(generator, 'requires_heldout', False):
        raise ValueError(
            'estimate_general_weights needs model.soft_target to be a '
            f'GeneralSoftTarget, got {type(generator).__name__}.'
        )
    device = generator.weights.device
    was_training = model.training
    model.eval()
    statistics, count = None, torch.zeros((), dtype=torch.float64)
    try:
        for batch in dataloader:
            data = model.data_preprocessor(batch, training=False)
            probs = [F.softmax(z.float(), dim=1) for z in model.student_logits(data['inputs'])]
            labels = hard_labels(data['data_samples'])
            batch_statistics = generator.error_statistics(probs, labels)
            statistics = batch_statistics if statistics is None else statistics + batch_statistics
            count += labels.numel()
    finally:
        model.train(was_training)
    if statistics is None:  # this rank got no batch; others may have
        n = generator.num_students
        statistics = torch.zeros((2, n, n), dtype=torch.float64)
    statistics, count = statistics.to(device), count.to(device)
    all_reduce(statistics)
    all_reduce(count)
    count = int(count.item())
    weights = generator.weights_from_statistics(statistics, count)
    return weights, count
