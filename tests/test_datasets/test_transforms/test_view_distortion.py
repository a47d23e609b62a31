"""apply_view_distortion: the CPU transforms' flips and PIL colour jitter, pixel for pixel."""

import cv2
import mmcv
import numpy as np
import pytest
import torch
from matplotlib import cbook
from mmcv.transforms.utils import cache_random_params
from mmpretrain.datasets.transforms import ColorJitter

from kdcl_mm.datasets.transforms import ViewDistortionDraw, apply_view_distortion
from kdcl_mm.datasets.transforms.view_distortion import IDENTITY_ROW


@pytest.fixture(scope='module')
def photo_crops():
    """Twelve 64x64 BGR crops of the photo that ships with matplotlib."""
    photo = cv2.imread(cbook.get_sample_data('grace_hopper.jpg', asfileobj=False))
    return [
        np.ascontiguousarray(
            photo[37 * i % 400 : 37 * i % 400 + 64, 53 * i % 440 : 53 * i % 440 + 64]
        )
        for i in range(12)
    ]


def as_batch(images):
    return torch.from_numpy(np.stack(images)).permute(0, 3, 1, 2).contiguous()


def as_images(batch):
    return list(batch.permute(0, 2, 3, 1).numpy())


@pytest.mark.parametrize(
    'jitter',
    [
        dict(brightness=0.4, contrast=0.4, saturation=0.4),  # the ImageNet recipes'
        dict(brightness=0.3, contrast=0.3),  # the MNIST recipe's
        dict(brightness=(0.1, 3.0), saturation=(0.0, 4.0)),  # clipping at 0 and 255
    ],
    ids=str,
)
def test_colour_jitter_is_pils_pixel_for_pixel(photo_crops, jitter):
    np.random.seed(0)
    cpu = ColorJitter(**jitter)
    expected, rows = [], []
    for img in photo_crops:
        with cache_random_params(cpu):  # the transform then uses the parameters drawn here
            rows.append(ViewDistortionDraw([cpu])())
            expected.append(cpu.transform(dict(img=img.copy()))['img'])
    out = apply_view_distortion(as_batch(photo_crops), ViewDistortionDraw.stack(rows))
    assert out.dtype == torch.uint8
    for got, want in zip(as_images(out), expected):
        np.testing.assert_array_equal(got, want)
    assert not np.array_equal(expected[0], photo_crops[0])  # it did jitter


@pytest.mark.parametrize('code,direction', [(1, 'horizontal'), (2, 'vertical'), (3, 'diagonal')])
def test_flips_are_mmcv_imflip(photo_crops, code, direction):
    rows = torch.tensor([IDENTITY_ROW] * 3, dtype=torch.float64)
    rows[1, 0] = code  # only the middle image flips
    images = as_batch(photo_crops[:3])
    out = as_images(apply_view_distortion(images, rows))
    np.testing.assert_array_equal(out[1], mmcv.imflip(photo_crops[1], direction))
    np.testing.assert_array_equal(out[0], photo_crops[0])
    assert torch.equal(images, as_batch(photo_crops[:3]))  # the input is left as it was


def test_identity_rows_return_the_images_unchanged(photo_crops):
    images = as_batch(photo_crops)
    rows = torch.tensor([IDENTITY_ROW] * len(photo_crops), dtype=torch.float64)
    assert torch.equal(apply_view_distortion(images, rows), images)


def test_grey_images_are_refused_with_the_reason():
    with pytest.raises(ValueError, match=r'needs \(B, 3, H, W\).*3-channel'):
        apply_view_distortion(torch.zeros(2, 1, 8, 8, dtype=torch.uint8), torch.zeros(2, 7))


def test_float_images_and_mismatched_rows_are_refused():
    rows = torch.stack([torch.as_tensor(IDENTITY_ROW, dtype=torch.float64)] * 2)
    with pytest.raises(TypeError, match='uint8 pixels.*got torch.float32.*before normalisation'):
        apply_view_distortion(torch.zeros(2, 3, 4, 4), rows)
    with pytest.raises(
        ValueError, match=r'one row of 7 parameters per image, \(2, 7\), got \(1, 7\)'
    ):
        apply_view_distortion(torch.zeros(2, 3, 4, 4, dtype=torch.uint8), rows[:1])
