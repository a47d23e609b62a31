"""MergedGroupsOptimWrapperConstructor: mmengine's per-parameter options, in one group per
set of options, and the same optimiser steps."""

import copy

import torch
from mmengine.config import Config
from mmengine.optim import DefaultOptimWrapperConstructor, build_optim_wrapper
from mmengine.registry import init_default_scope
from torch import nn

from kdcl_mm.engine.optimizers import MergedGroupsOptimWrapperConstructor
from kdcl_mm.registry import MODELS

PARAMWISE = dict(norm_decay_mult=0.0, custom_keys={'students.1.': dict(decay_mult=0.4)})
OPTIM = dict(
    type='OptimWrapper', optimizer=dict(type='SGD', lr=0.1, momentum=0.9, weight_decay=1e-4)
)


def cohort() -> nn.Module:
    def student():
        return nn.Sequential(nn.Conv2d(3, 4, 3), nn.BatchNorm2d(4), nn.Flatten(), nn.LazyLinear(5))

    torch.manual_seed(0)
    model = nn.Module()
    model.students = nn.ModuleList([student(), student()])
    for s in model.students:
        s(torch.zeros(2, 3, 6, 6))  # materialise the lazy layers
    return model


def options_per_parameter(optimizer) -> dict:
    return {
        id(p): {k: v for k, v in group.items() if k != 'params'}
        for group in optimizer.param_groups
        for p in group['params']
    }


def build(constructor, model, paramwise_cfg=PARAMWISE):
    return constructor(copy.deepcopy(OPTIM), paramwise_cfg)(model)


def test_every_parameter_keeps_mmengines_options_in_one_group_per_option_set():
    model = cohort()
    per_tensor = build(DefaultOptimWrapperConstructor, model).optimizer
    merged = build(MergedGroupsOptimWrapperConstructor, model).optimizer
    assert len(per_tensor.param_groups) == 12  # 6 tensors per student
    assert options_per_parameter(merged) == options_per_parameter(per_tensor)
    # students.0: conv and linear at the base decay, BN at 0; students.1: its custom key's
    # decay for every tensor (a custom key overrides the norm rule).
    assert [(len(g['params']), g['weight_decay']) for g in merged.param_groups] == [
        (4, 1e-4),
        (2, 0.0),
        (6, 4e-5),
    ]


def test_steps_are_the_same_as_with_one_group_per_tensor():
    steps = []
    for constructor in (DefaultOptimWrapperConstructor, MergedGroupsOptimWrapperConstructor):
        model = cohort()
        wrapper = build(constructor, model)
        for i in range(3):
            torch.manual_seed(i)
            loss = sum(s(torch.randn(2, 3, 6, 6)).square().mean() for s in model.students)
            wrapper.update_params(loss)
        steps.append([p.detach().clone() for p in model.parameters()])
    assert all(torch.equal(a, b) for a, b in zip(*steps))


def test_without_paramwise_cfg_it_is_one_group():
    merged = build(MergedGroupsOptimWrapperConstructor, cohort(), paramwise_cfg=None).optimizer
    assert len(merged.param_groups) == 1


def test_the_imagenet_recipe_steps_two_groups():
    """r50_mbv2_imagenet.py: ResNet-50 at weight decay 1e-4, MobileNetV2 at 4e-5 (its own
    recipe's), instead of 319 groups of one tensor."""
    cfg = Config.fromfile('configs/kdcl/r50_mbv2_imagenet.py')
    init_default_scope('kdcl_mm')
    model = MODELS.build(cfg.model)
    optimizer = build_optim_wrapper(model, cfg.optim_wrapper).optimizer
    names = {id(p): n for n, p in model.named_parameters()}
    groups = [
        (g['weight_decay'], {names[id(p)].split('.')[1] for p in g['params']}, len(g['params']))
        for g in optimizer.param_groups
    ]
    trainable = sum(p.requires_grad for p in model.parameters())
    assert [(wd, students) for wd, students, _ in groups] == [(1e-4, {'0'}), (4e-5, {'1'})]
    assert sum(n for _, _, n in groups) == trainable
