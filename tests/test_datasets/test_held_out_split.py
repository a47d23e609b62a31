import numpy as np
import pytest

from kdcl_mm.registry import DATASETS


class Items:
    metainfo = dict(classes=('x',))

    def __len__(self):
        return 101

    def __getitem__(self, i):
        return i


def build(part, **kw):
    return DATASETS.build(dict(type='HeldOutSplit', dataset=Items(), part=part, **kw))


def test_parts_are_disjoint_cover_everything_and_are_deterministic():
    train, held = build('train', ratio=0.05), build('heldout', ratio=0.05)
    a, b = {train[i] for i in range(len(train))}, {held[i] for i in range(len(held))}
    assert len(held) == 5 and len(train) == 96
    assert a.isdisjoint(b) and a | b == set(range(101))
    assert np.array_equal(held.indices, build('heldout', ratio=0.05).indices)
    assert not np.array_equal(held.indices, build('heldout', ratio=0.05, seed=1).indices)
    assert train.metainfo == Items.metainfo


@pytest.mark.parametrize(
    'kw, field', [(dict(part='val'), 'part'), (dict(part='train', ratio=1.0), 'ratio')]
)
def test_bad_arguments_name_the_field(kw, field):
    with pytest.raises(ValueError, match=f'HeldOutSplit.{field}'):
        DATASETS.build(dict(type='HeldOutSplit', dataset=Items(), **kw))
