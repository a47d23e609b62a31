"""MultiViewClsDataPreprocessor normalises every view and mixes them all the same way."""

import torch
from mmpretrain.structures import DataSample

from kdcl_mm.registry import MODELS

MEAN, STD = 10.0, 4.0


def build(**kwargs):
    return MODELS.build(
        dict(
            type='MultiViewClsDataPreprocessor',
            mean=[MEAN] * 3,
            std=[STD] * 3,
            num_classes=5,
            **kwargs,
        )
    )


def samples(n):
    return [DataSample().set_gt_label(i % 5) for i in range(n)]


def test_default_collate_views_are_normalised_one_by_one():
    views = [torch.full((2, 3, 4, 4), 14.0), torch.full((2, 3, 4, 4), 18.0)]
    out = build()(dict(inputs=views, data_samples=samples(2)))
    assert len(out['inputs']) == 2
    assert torch.equal(out['inputs'][0], torch.ones(2, 3, 4, 4))
    assert torch.equal(out['inputs'][1], torch.full((2, 3, 4, 4), 2.0))


def test_pseudo_collate_views_are_stacked_per_view():
    views = [[torch.full((3, 4, 4), 14.0)] * 3, [torch.full((3, 4, 4), 6.0)] * 3]
    out = build()(dict(inputs=views, data_samples=samples(3)))
    assert [t.shape for t in out['inputs']] == [torch.Size([3, 3, 4, 4])] * 2
    assert torch.equal(out['inputs'][1], -torch.ones(3, 3, 4, 4))


def test_single_view_batches_pass_through_as_one_tensor():
    out = build()(dict(inputs=torch.full((2, 3, 4, 4), 14.0), data_samples=samples(2)))
    assert isinstance(out['inputs'], torch.Tensor)
    assert torch.equal(out['inputs'], torch.ones(2, 3, 4, 4))


def test_mixup_mixes_every_view_with_the_same_permutation_and_lambda():
    pre = build(batch_augments=dict(augments=[dict(type='Mixup', alpha=1.0)]))
    torch.manual_seed(0)
    base = torch.rand(6, 3, 4, 4) * 100
    shift = 8.0  # view 1 = view 0 + shift: identical mixing keeps the offset exactly
    out = pre(dict(inputs=[base, base + shift], data_samples=samples(6)), training=True)
    v0, v1 = out['inputs']
    torch.testing.assert_close(v1 - v0, torch.full_like(v0, shift / STD))
    assert not torch.allclose(v0, (base - MEAN) / STD)  # it did mix
    scores = torch.stack([s.gt_score for s in out['data_samples']])
    assert torch.allclose(scores.sum(1), torch.ones(6)) and (scores < 1).any()


def test_cutmix_cuts_the_same_box_in_every_view():
    pre = build(batch_augments=dict(augments=[dict(type='CutMix', alpha=1.0)]))
    base = torch.rand(4, 3, 8, 8) * 100
    v0, v1 = pre(dict(inputs=[base, base + 4.0], data_samples=samples(4)), training=True)['inputs']
    torch.testing.assert_close(v1 - v0, torch.full_like(v0, 1.0))


def test_deferred_views_without_their_rows_stop_training_naming_pack_inputs():
    import pytest

    views = [torch.full((2, 3, 4, 4), 20, dtype=torch.uint8) for _ in range(2)]
    data = dict(inputs=views, data_samples=samples(2))
    with pytest.raises(ValueError, match=r"without their 'view_distortion' rows.*PackInputs"):
        build(deferred_distortion=True)(data, training=True)
    build(deferred_distortion=True)(data, training=False)  # evaluation has no distortion
    build()(data, training=True)  # MultiView distorted on the CPU: no rows to expect
