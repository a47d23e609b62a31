"""Fault isolation through the runtime the recipes ship (DivergenceGuardHook and the rest of
configs/_base_/default_runtime.py), on the MNIST recipe: one student's logits are NaN on one
sample at a few iterations; the other student steps on every one of them, the run finishes,
and a run resumed across such a step is bit-identical to the uninterrupted one."""

import pytest
import torch
from mmengine.hooks import Hook
from mmengine.runner import Runner

from kdcl_mm.utils.wrappers import unwrap
from tests.resume_utils import MNIST, max_abs_difference, tiny_mnist

FAULTY = (1, 2, 4)  # runner.iter of the faulty iterations: 3 per epoch, 2 epochs


class OneNaNSample(Hook):
    """Student ``faulty``'s logits are NaN on the first sample of the batch at ``iterations``
    (+ NaN keeps the graph: its gradients are NaN, as in a real fault); records which
    students' parameters changed in every iteration."""

    priority = 'VERY_HIGH'

    def __init__(self, iterations=FAULTY, faulty=0):
        self.iterations, self.faulty = set(iterations), faulty
        self.active = False
        self.moved = {}  # runner.iter -> [whether student i's parameters changed]

    def before_train(self, runner) -> None:
        self.model = unwrap(runner.model)
        self.model.students[self.faulty].register_forward_hook(self._spoil)

    def before_train_iter(self, runner, batch_idx, data_batch=None) -> None:
        self.active = runner.iter in self.iterations
        self.before = [[p.detach().clone() for p in s.parameters()] for s in self.model.students]

    def after_train_iter(self, runner, batch_idx, data_batch=None, outputs=None) -> None:
        self.active = False
        self.moved[runner.iter] = [
            any(not torch.equal(a, p) for a, p in zip(before, s.parameters()))
            for before, s in zip(self.before, self.model.students)
        ]

    def _spoil(self, module, args, output):
        if not self.active:
            return None
        poison = torch.zeros_like(output)
        poison[0] = float('nan')
        return output + poison


def run(work_dir, resume_from=None):
    cfg = tiny_mnist(MNIST, num_labeled=24)  # 3 iterations per epoch
    cfg.merge_from_dict(
        dict(
            work_dir=str(work_dir),
            train_cfg=dict(max_epochs=2),
            default_hooks=dict(
                checkpoint=dict(
                    type='CheckpointHook', interval=1, save_best=None, max_keep_ckpts=-1
                )
            ),
        )
    )
    if resume_from:
        cfg.resume, cfg.load_from = True, str(resume_from)
    runner = Runner.from_cfg(cfg)
    assert 'DivergenceGuardHook' in [type(h).__name__ for h in runner.hooks]  # as shipped
    fault = OneNaNSample()
    runner.register_hook(fault)
    runner.train()
    return runner, fault


@pytest.mark.slow
def test_the_healthy_student_steps_on_every_faulty_iteration_and_resume_is_exact(tmp_path):
    runner, fault = run(tmp_path / 'straight')
    assert runner.iter == 6  # the run finished
    for iteration, (faulty, healthy) in fault.moved.items():
        assert healthy, iteration
        assert faulty == (iteration not in FAULTY), iteration
    hub = runner.message_hub
    assert hub.get_info('divergence_guard/skipped_steps') == len(FAULTY)
    name = unwrap(runner.model).student_names[0]
    assert hub.get_info(f'divergence_guard/skipped_steps/{name}') == len(FAULTY)
    weights = unwrap(runner.model).state_dict()
    assert all(bool(torch.isfinite(v).all()) for v in weights.values() if v.is_floating_point())

    # Interrupted after epoch 1 (a skipped step before it, one after it) and resumed.
    resumed, _ = run(tmp_path / 'resumed', resume_from=tmp_path / 'straight' / 'epoch_1.pth')
    straight = torch.load(tmp_path / 'straight' / 'epoch_2.pth', weights_only=False)
    again = torch.load(tmp_path / 'resumed' / 'epoch_2.pth', weights_only=False)
    assert max_abs_difference(straight, again) == 0
    assert resumed.message_hub.get_info('divergence_guard/skipped_steps') == len(FAULTY)
