"""The KDCL classifier: students, views, losses, gradients, predictions and bad input."""

import copy

import pytest
import torch
import torch.nn.functional as F
from mmpretrain.structures import DataSample

from kdcl_mm.registry import MODELS

NUM_CLASSES = 10
RESNET = dict(
    type='ImageClassifier',
    backbone=dict(type='ResNet', depth=18, stem_channels=8, base_channels=8),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=NUM_CLASSES, in_channels=64),
)
MBV2 = dict(
    type='ImageClassifier',
    backbone=dict(type='MobileNetV2', widen_factor=0.25),
    neck=dict(type='GlobalAveragePooling'),
    head=dict(type='LinearClsHead', num_classes=NUM_CLASSES, in_channels=1280),
)


def build_kdcl(**kwargs):
    cfg = dict(type='KDCL', students=[copy.deepcopy(RESNET), copy.deepcopy(MBV2)])
    cfg.update(kwargs)
    torch.manual_seed(0)
    return MODELS.build(cfg)


def batch(n=4, seed=0):
    g = torch.Generator().manual_seed(seed)
    views = [torch.randn(n, 3, 32, 32, generator=g) for _ in range(2)]
    samples = [DataSample().set_gt_label(i % NUM_CLASSES) for i in range(n)]
    return views, samples


def test_students_are_named_and_live_under_students_prefix():
    model = build_kdcl()
    assert model.student_names == ['resnet18', 'mobilenet_v2']
    keys = model.state_dict().keys()
    assert 'students.0.backbone.conv1.weight' in keys
    assert 'students.1.backbone.conv1.conv.weight' in keys
    assert 'students.1.head.fc.weight' in keys


def test_names_can_be_overridden_and_duplicates_are_made_unique():
    model = build_kdcl(students=[dict(RESNET, name='big'), RESNET, RESNET])
    assert model.student_names == ['big', 'resnet18_0', 'resnet18_1']


def test_loss_dict_has_ce_and_kd_per_student():
    model = build_kdcl()
    views, samples = batch()
    losses = model.loss(views, samples)
    assert set(losses) == {
        'resnet18.loss_ce',
        'resnet18.loss_kd',
        'resnet18.nonfinite',
        'mobilenet_v2.loss_ce',
        'mobilenet_v2.loss_kd',
        'mobilenet_v2.nonfinite',
    }
    assert all(v.ndim == 0 and torch.isfinite(v) for v in losses.values())


def test_each_student_sees_its_own_view():
    model = build_kdcl().eval()
    views, _ = batch()
    logits = model.student_logits(views)
    for student, view, z in zip(model.students, views, logits):
        torch.testing.assert_close(z, student(view))
    assert not torch.allclose(model.student_logits([views[1], views[0]])[0], logits[0])


def test_loss_terms_match_their_formulas():
    model = build_kdcl(
        soft_target=dict(type='MeanSoftTarget'),
        kd_loss=dict(type='SoftTargetKDLoss', temperature=3.0, loss_weight=0.5),
    )
    views, samples = batch()
    losses = model.loss(views, samples)
    z = [s(v) for s, v in zip(model.students, views)]
    labels = torch.tensor([s.gt_label.item() for s in samples])
    target = (z[0] + z[1]).detach() / 2
    for name, zi in zip(model.student_names, z):
        torch.testing.assert_close(losses[f'{name}.loss_ce'], F.cross_entropy(zi, labels))
        kl = F.kl_div(F.log_softmax(zi / 3, 1), F.softmax(target / 3, 1), reduction='batchmean')
        torch.testing.assert_close(losses[f'{name}.loss_kd'], 0.5 * 9 * kl)


def test_with_lambda_zero_each_student_gets_exactly_its_solo_gradients():
    model = build_kdcl(kd_loss=dict(type='SoftTargetKDLoss', loss_weight=0.0))
    solos = [copy.deepcopy(s) for s in model.students]
    views, samples = batch()
    sum(model.loss(views, samples).values()).backward()
    for solo, student, view in zip(solos, model.students, views):
        solo.loss(view, copy.deepcopy(samples))['loss'].backward()
        for (name, p_solo), p in zip(solo.named_parameters(), student.parameters()):
            torch.testing.assert_close(p.grad, p_solo.grad, msg=name)


def test_no_gradient_reaches_the_soft_target():
    """Student 0's KD loss must not move student 1, whose logits build the target."""
    model = build_kdcl(soft_target=dict(type='MeanSoftTarget'))
    views, samples = batch()
    losses = model.loss(views, samples)
    losses['resnet18.loss_kd'].backward()
    assert any(
        p.grad is not None and p.grad.abs().sum() > 0 for p in model.students[0].parameters()
    )
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in model.students[1].parameters())


def test_one_view_is_shared_by_all_students_when_distortion_is_off():
    model = build_kdcl().eval()
    view = batch()[0][0]
    shared = model.student_logits(view)
    separate = model.student_logits([view, view])
    for a, b in zip(shared, separate):
        torch.testing.assert_close(a, b)


def test_predict_reports_every_student_and_the_mean_ensemble():
    model = build_kdcl().eval()
    view, samples = batch()[0][0], batch()[1]
    with torch.no_grad():
        preds = model.predict(view, samples)
        probs = [F.softmax(z, 1) for z in model.student_logits(view)]
    for b, sample in enumerate(preds):
        assert sample.student_names == ('resnet18', 'mobilenet_v2')
        torch.testing.assert_close(sample.student_scores, torch.stack([p[b] for p in probs]))
        torch.testing.assert_close(sample.pred_score, (probs[0][b] + probs[1][b]) / 2)


def test_train_step_through_the_data_preprocessor_updates_every_student():
    from mmengine.optim import OptimWrapper

    model = build_kdcl(data_preprocessor=dict(mean=[0.0] * 3, std=[1.0] * 3))
    optim = OptimWrapper(torch.optim.SGD(model.parameters(), lr=0.1))
    views, samples = batch()
    data = dict(inputs=[list(v) for v in views], data_samples=samples)  # pseudo_collate layout
    before = [s.head.fc.weight.clone() for s in model.students]
    log_vars = model.train_step(data, optim)
    assert 'resnet18.loss_kd' in log_vars and 'loss' in log_vars
    assert all(not torch.equal(b, s.head.fc.weight) for b, s in zip(before, model.students))


# ---- bad input: clear errors naming the field ----


def test_fewer_than_two_students():
    with pytest.raises(ValueError, match='model.students must be a list of at least 2'):
        build_kdcl(students=[RESNET])


def test_students_with_different_num_classes():
    other = copy.deepcopy(MBV2)
    other['head']['num_classes'] = 100
    with pytest.raises(ValueError, match='disagree on head.num_classes'):
        build_kdcl(students=[RESNET, other])


def test_unknown_generator():
    with pytest.raises(
        ValueError, match=r"unknown model.soft_target.type 'MaxLogit'.*MinLogitSoftTarget"
    ):
        build_kdcl(soft_target=dict(type='MaxLogit'))


@pytest.mark.parametrize('temperature', [0, -1.0])
def test_non_positive_temperature(temperature):
    with pytest.raises(ValueError, match='kd_loss.temperature'):
        build_kdcl(kd_loss=dict(type='SoftTargetKDLoss', temperature=temperature))


def test_views_and_students_mismatch_at_run_time():
    model = build_kdcl()
    views, samples = batch()
    with pytest.raises(ValueError, match=r'3 views but KDCL has 2 students.*num_views=2'):
        model.loss(views + views[:1], samples)


def test_student_owning_a_data_preprocessor_is_rejected():
    with pytest.raises(ValueError, match=r'students\[1\].data_preprocessor'):
        build_kdcl(students=[RESNET, dict(MBV2, data_preprocessor=dict(mean=[0] * 3))])


def test_student_name_with_a_dot_is_rejected():
    with pytest.raises(ValueError, match=r"students\[0\].name='a.b'"):
        build_kdcl(students=[dict(RESNET, name='a.b'), MBV2])


def test_packaged_config_students_resolve():
    from kdcl_mm.models.classifiers import resolve_students

    named = resolve_students(
        [
            'mmpretrain::resnet/resnet18_8xb32_in1k.py',
            dict(
                config='mmpretrain::mobilenet_v2/mobilenet-v2_8xb32_in1k.py',
                head=dict(num_classes=10),
            ),
        ]
    )
    assert [n for n, _ in named] == ['resnet18', 'mobilenet_v2']
    assert named[1][1]['head']['num_classes'] == 10
    assert named[1][1]['head']['in_channels'] == 1280  # merged, not replaced
    with pytest.raises(ValueError, match='cannot load config'):
        resolve_students(['mmpretrain::nope/nope.py', RESNET])


def test_general_without_estimated_weights_warns_once(monkeypatch):
    import kdcl_mm.models.classifiers.kdcl as kdcl_module

    warnings = []
    monkeypatch.setattr(kdcl_module, 'print_log', lambda msg, **kw: warnings.append(msg))
    model = build_kdcl(soft_target=dict(type='GeneralSoftTarget'))
    views, samples = batch()
    model.loss(views, samples)
    model.loss(views, samples)
    assert len(warnings) == 1 and 'initial uniform weights' in warnings[0]
    model.soft_target.set_weights(torch.tensor([0.3, 0.7]))
    model._warned_heldout = False
    model.loss(views, samples)
    assert len(warnings) == 1
    # Read once: a GPU buffer read every step would be a host sync per training step.
    model.soft_target.estimated.fill_(False)
    model.loss(views, samples)
    assert len(warnings) == 1
