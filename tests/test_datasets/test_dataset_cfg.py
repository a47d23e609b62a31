import pytest

from kdcl_mm.datasets.dataset_cfg import innermost_dataset_cfg


def test_follows_wrappers_to_the_dataset_with_a_pipeline():
    inner = dict(type='MNISTDigits', split='train', pipeline=[dict(type='PackInputs')])
    wrapped = dict(
        type='RepeatDataset',
        times=2,
        dataset=dict(type='HeldOutSplit', part='train', dataset=inner),
    )
    assert innermost_dataset_cfg(wrapped) is inner


def test_stops_at_the_first_pipeline():
    # A wrapper that carries its own pipeline is where the samples are transformed.
    outer = dict(type='Wrapper', pipeline=[dict(type='A')], dataset=dict(pipeline=[]))
    assert innermost_dataset_cfg(outer) is outer


def test_a_plain_dataset_is_its_own_innermost():
    plain = dict(type='ImageNet', data_root='data/imagenet')
    assert innermost_dataset_cfg(plain) is plain


def test_a_non_dict_is_refused_with_its_type():
    with pytest.raises(TypeError, match='got list'):
        innermost_dataset_cfg([dict(type='A')])
