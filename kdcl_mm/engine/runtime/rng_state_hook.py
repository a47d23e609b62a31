"""Save every rank's random generator states in checkpoints and restore them on resume."""

import random
from typing import Optional

import numpy as np
import torch
from mmengine.dist import all_gather_object, get_dist_info
from mmengine.hooks import Hook
from mmengine.registry import HOOKS

from kdcl_mm.utils.wrappers import unwrap


def capture_rng_state() -> dict:
    """This process's python, numpy, torch CPU (and CUDA, once initialised) generator states.

    Stored as tuples, ints and tensors only, so a checkpoint holding them stays loadable with
    torch's ``weights_only`` unpickler.
    """
    numpy_state = np.random.get_state(legacy=False)
    state = dict(
        python=random.getstate(),
        numpy=dict(
            key=torch.from_numpy(numpy_state['state']['key'].astype(np.int64)),
            pos=int(numpy_state['state']['pos']),
            has_gauss=int(numpy_state['has_gauss']),
            gauss=float(numpy_state['gauss']),
        ),
        torch=torch.get_rng_state(),
    )
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state['cuda'] = torch.cuda.get_rng_state_all()
    return state


def restore_rng_state(state: dict) -> None:
    """Inverse of :func:`capture_rng_state`."""
    random.setstate(_as_tuples(state['python']))
    numpy_state = state['numpy']
    np.random.set_state(
        dict(
            bit_generator='MT19937',
            state=dict(key=numpy_state['key'].numpy().astype(np.uint32), pos=numpy_state['pos']),
            has_gauss=numpy_state['has_gauss'],
            gauss=numpy_state['gauss'],
        )
    )
    torch.set_rng_state(state['torch'])
    if 'cuda' in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state['cuda'])


def _load_buffers(runner, buffers) -> None:
    if not buffers:
        return
    model_buffers = dict(unwrap(runner.model).named_buffers())
    with torch.no_grad():
        for name, value in buffers.items():
            model_buffers[name].copy_(value)


def _as_tuples(value):
    # random.setstate needs tuples; a checkpoint round trip may hand back lists.
    return tuple(_as_tuples(v) for v in value) if isinstance(value, (list, tuple)) else value


@HOOKS.register_module()
class RNGStateHook(Hook):
    """Make a resumed run draw the random numbers an uninterrupted run draws.

    * At the end of every training epoch it takes a snapshot of each rank's generator states
      (gathered to rank 0) and stores it in the checkpoints saved at that point, under
      ``checkpoint['rng_state']``; a mid-epoch checkpoint (PreemptionHook) takes its own.
    * The next epoch starts from that snapshot, in the uninterrupted run too, so validation and
      anything else between two epochs cannot shift the training stream: a resumed run and an
      uninterrupted one start the epoch from identical states.
    * On ``--resume`` every rank restores its own state at the position it was taken (the start
      of the next epoch, or the next iteration after a mid-epoch checkpoint).

    With several processes it also keeps every rank's model buffers: under DDP with
    ``broadcast_buffers=False`` (mmengine's default) BN statistics are per rank, and a checkpoint
    holds rank 0's model only, so on resume every other rank would continue from rank 0's
    statistics. They are stored with each rank's random state and put back with it.

    Resuming a checkpoint without random state (saved before this hook existed), or with another
    number of processes, continues with fresh generators and a one-line warning.
    """

    priority = 'VERY_HIGH'  # snapshot before CheckpointHook saves; restore before other hooks

    def __init__(self):
        self._snapshot: Optional[dict] = None  # all ranks' states, what checkpoints store
        # (where, iter, this rank's loaded state, or None for this run's own snapshot)
        self._pending: Optional[tuple] = None

    def take_snapshot(self, runner, where: str, iteration: int) -> None:
        """Collective: capture every rank's states for a checkpoint of position ``iteration``.

        ``where`` is ``'epoch'`` (restore before the next epoch's data loading starts) or
        ``'iter'`` (restore before training iteration ``iteration``).
        """
        rank, world_size = get_dist_info()
        own = capture_rng_state()
        if world_size > 1:
            own['buffers'] = {
                name: buffer.detach().cpu().clone()
                for name, buffer in unwrap(runner.model).named_buffers()
            }
        states = all_gather_object(own) if world_size > 1 else [own]
        self._snapshot = dict(where=where, iter=iteration, world_size=world_size, states=states)
        self._pending = (where, iteration, None)  # this run's own state: generators only

    def after_train_epoch(self, runner) -> None:
        # A mid-epoch checkpoint taken after the epoch's last iteration: restore it here, where
        # the uninterrupted run's state is the one it had after that iteration.
        self._restore_if_due(runner, 'iter')
        self.take_snapshot(runner, 'epoch', runner.iter)

    def before_train_epoch(self, runner) -> None:
        self._restore_if_due(runner, 'epoch')

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        self._restore_if_due(runner, 'iter')

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        # Only a snapshot of this very position; an iteration checkpoint between snapshots
        # (CheckpointHook by iterations) carries none and resumes with a warning.
        if self._snapshot is not None and self._snapshot['iter'] == checkpoint['meta'].get('iter'):
            checkpoint['rng_state'] = self._snapshot

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if not getattr(runner, '_resume', False):
            return  # load_from: weights only, a new run with its own randomness
        saved = checkpoint.get('rng_state')
        rank, world_size = get_dist_info()
        if saved is None:
            runner.logger.warning(
                'The checkpoint holds no random state (saved before RNGStateHook or between '
                'snapshots): training resumes correctly but not bit-identical to an '
                'uninterrupted run.'
            )
        elif saved['world_size'] != world_size:
            runner.logger.warning(
                f'The checkpoint holds the random state of {saved["world_size"]} processes and '
                f'this run has {world_size}: generators start afresh, so the run is not '
                'bit-identical to an uninterrupted one.'
            )
        else:
            self._pending = (saved['where'], saved['iter'], saved['states'][rank])

    def _restore_if_due(self, runner, where: str) -> None:
        if self._pending is None or self._pending[:2] != (where, runner.iter):
            return
        state = self._pending[2]
        if state is None:  # this run's own snapshot: undo what happened since it was taken
            state = self._snapshot['states'][get_dist_info()[0]]
        else:  # loaded from a checkpoint
            _load_buffers(runner, state.get('buffers'))
        restore_rng_state(state)
        self._pending = None
