import re

import pytest

from tests.tiny import tiny_mobilenet_v2


def test_a_backbone_student_names_its_index_and_shows_the_wrapper(build_tiny_kdcl):
    students = [tiny_mobilenet_v2(), dict(type='ResNet', depth=18)]
    with pytest.raises(ValueError, match=r'model\.students\[1\] is a backbone \(ResNet\)') as err:
        build_tiny_kdcl(students=students)
    message = str(err.value)
    wrapper = message[message.index("dict(type='ImageClassifier'") :]
    assert "backbone=dict(type='ResNet', depth=18)" in wrapper
    assert 'num_classes=10' in wrapper  # taken from the other student's head
    # The wrapper shown, with its one placeholder filled in, is a student KDCL accepts.
    fixed = eval(wrapper.replace("<the backbone's output channels>", '512'), {'dict': dict})
    model = build_tiny_kdcl(students=[tiny_mobilenet_v2(), fixed])
    assert model.num_classes == 10 and model.students[1].head.in_channels == 512


def test_a_scoped_backbone_type_is_recognised_too(build_tiny_kdcl):
    with pytest.raises(ValueError, match=r'model\.students\[0\] is a backbone \(MobileNetV2\)'):
        build_tiny_kdcl(students=[dict(type='mmpretrain.MobileNetV2'), tiny_mobilenet_v2()])


def test_a_student_module_without_a_head_is_named_not_an_attribute_error(build_tiny_kdcl):
    """Not a backbone, so it is built; the head lookup names the student instead of raising
    AttributeError: 'GlobalAveragePooling' object has no attribute 'head'."""
    students = [tiny_mobilenet_v2(), dict(type='GlobalAveragePooling', name='pool')]
    with pytest.raises(ValueError, match=re.escape('model.students[1] (pool): no head')):
        build_tiny_kdcl(students=students)
