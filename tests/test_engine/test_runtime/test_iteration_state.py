"""IterationState: one buffer snapshot per model, shared, and the flags that ride on the step."""

import gc
import weakref

import torch
from torch import nn

from kdcl_mm.engine.runtime.iteration_state import IterationState


def model():
    return nn.Sequential(nn.Linear(2, 2), nn.BatchNorm1d(2))


def test_one_state_per_model_and_it_does_not_keep_the_model_alive():
    net = model()
    state = IterationState.of(net)
    assert IterationState.of(net) is state and IterationState.of(model()) is not state
    state.snapshot(at=(0, 0))
    alive = weakref.ref(net)
    del net, state
    gc.collect()
    assert alive() is None


def test_a_snapshot_is_taken_once_per_boundary_and_restores_what_keep_selects():
    net = model()
    state = IterationState.of(net)
    bn = net[1]
    state.snapshot(at=(0, 3))
    before = bn.running_mean.clone()
    with torch.no_grad():
        bn.running_mean.add_(1)
    state.snapshot(at=(0, 3))  # the same boundary (the guard after the emergency checkpoint)
    state.restore(keep=lambda name: name.endswith('running_var'))
    assert torch.equal(bn.running_mean, before + 1)  # not selected
    state.restore()
    assert torch.equal(bn.running_mean, before)
    with torch.no_grad():
        bn.running_mean.add_(1)
    state.snapshot(at=(1, 3))  # a new epoch: its hooks may have changed the buffers
    state.restore()
    assert torch.equal(bn.running_mean, before + 1)


def test_votes_are_zero_where_set_and_read_back_only_for_their_iteration():
    state = IterationState.of(model())
    received = []
    state.vote('preempted', lambda: bool(received))
    assert state.ballot().tolist() == [1]
    received.append('SIGTERM')
    assert state.ballot().tolist() == [0]
    state.count(7, [0])  # the all-reduced minimum: some rank was signalled
    assert state.agreed('preempted', 7) is True
    assert state.agreed('preempted', 8) is None  # that step agreed on nothing
