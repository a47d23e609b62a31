"""One view's flip and colour jitter: drawn on the CPU, applied batched on any device.

A view's parameters are one row of ``ROW_SIZE`` numbers (float64, so ColorJitter's factors
keep every bit):

========  ==================================================================================
column    meaning
========  ==================================================================================
FLIP      0 none, 1 horizontal, 2 vertical, 3 diagonal (``mmcv.imflip``'s directions)
ORDER     3 columns: the order in which brightness (0), contrast (1) and saturation (2) run
FACTORS   3 columns: brightness, contrast and saturation factors; 1 leaves the image as is
========  ==================================================================================

:func:`apply_view_distortion` reproduces ``ColorJitter``'s default ``backend='pillow'``
(``mmcv.adjust_brightness/adjust_contrast/adjust_color`` through ``PIL.ImageEnhance``)
pixel for pixel: each step is PIL's ``Image.blend(degenerate, image, factor)`` in float32,
truncated to uint8, with PIL's integer luma ``(19595 R + 38470 G + 7471 B + 2^15) >> 16``
(exact in float32) as the grey image of saturation and, averaged and rounded, the mean of
contrast. Like ``ColorJitter`` it reads the image as BGR, which is how images are loaded.
"""

from typing import List, Sequence

import numpy as np
import torch
from mmcv.transforms import RandomFlip
from mmpretrain.datasets.transforms import ColorJitter
from torch import Tensor

FLIP = 0
ORDER = slice(1, 4)
FACTORS = slice(4, 7)
ROW_SIZE = 7
FLIP_CODES = {None: 0, 'horizontal': 1, 'vertical': 2, 'diagonal': 3}
IDENTITY_ROW = (0.0, 0.0, 1.0, 2.0, 1.0, 1.0, 1.0)


class ViewDistortionDraw:
    """Draws one view's row with the deferred transforms' own random-parameter methods."""

    def __init__(self, transforms: Sequence):
        for t in transforms:
            if not isinstance(t, (RandomFlip, ColorJitter)):
                raise TypeError(f'cannot defer {type(t).__name__}: only RandomFlip and ColorJitter')
        self.transforms = list(transforms)

    def __call__(self) -> List[float]:
        row = list(IDENTITY_ROW)
        for t in self.transforms:
            if isinstance(t, RandomFlip):
                direction = t._choose_direction()
                row[FLIP] = FLIP_CODES[None if direction is None else str(direction)]
            else:
                order, *factors, _ = t._rand_params()  # hue is refused upstream
                row[ORDER] = [int(i) for i in order if i < 3]
                row[FACTORS] = [1.0 if f is None else float(f) for f in factors]
        return row

    @staticmethod
    def stack(rows: Sequence[Sequence[float]]) -> Tensor:
        return torch.tensor(np.asarray(rows, dtype=np.float64))

    def __repr__(self) -> str:
        return '[' + ', '.join(repr(t) for t in self.transforms) + ']'


def _luma(x: Tensor) -> Tensor:
    """PIL's RGB -> L of a (B, 3, H, W) BGR float tensor of integers, as (B, H, W)."""
    return torch.floor((x[:, 2] * 19595 + x[:, 1] * 38470 + x[:, 0] * 7471 + 32768) / 65536)


def _blend(degenerate: Tensor, x: Tensor, factor: Tensor) -> Tensor:
    """PIL's ``Image.blend(degenerate, x, factor)`` on uint8 images: float32, then clip and
    truncate."""
    return (degenerate + factor * (x - degenerate)).clamp_(0, 255).floor_()


def _brightness(x: Tensor, factor: Tensor) -> Tensor:
    return _blend(torch.zeros_like(x), x, factor)


def _contrast(x: Tensor, factor: Tensor) -> Tensor:
    luma = _luma(x).double()
    mean = torch.floor(luma.sum(dim=(1, 2)) / luma[0].numel() + 0.5)
    return _blend(mean.float().view(-1, 1, 1, 1), x, factor)


def _saturation(x: Tensor, factor: Tensor) -> Tensor:
    return _blend(_luma(x).unsqueeze(1), x, factor)


_COLOUR_OPS = (_brightness, _contrast, _saturation)


def apply_view_distortion(images: Tensor, rows: Tensor) -> Tensor:
    """Flip and colour-jitter a (B, 3, H, W) uint8 batch by its (B, ROW_SIZE) rows.

    ``rows`` may stay on the CPU (the loader's tensor): which samples each step touches is
    decided there, so the device is never asked to report back; only the factors travel.
    """
    if images.dim() != 4 or images.size(1) != 3:
        raise ValueError(
            f'view distortion needs (B, 3, H, W) images, got {tuple(images.shape)}: '
            'ColorJitter works on 3-channel images.'
        )
    if images.dtype != torch.uint8:
        # The factors and the rounding are ColorJitter's on 0-255 pixels: on normalised or
        # float images they would silently give other colours.
        raise TypeError(
            f'view distortion needs the uint8 pixels (0-255) the loader produced, got '
            f'{images.dtype}: apply it before normalisation or any cast, as '
            'MultiViewClsDataPreprocessor does.'
        )
    if rows.dim() != 2 or rows.shape != (images.size(0), ROW_SIZE):
        raise ValueError(
            f'view distortion needs one row of {ROW_SIZE} parameters per image, '
            f'({images.size(0)}, {ROW_SIZE}), got {tuple(rows.shape)}: the rows come from '
            'DeferredMultiView with the images.'
        )
    rows = rows.detach().to('cpu', torch.float64)
    out = images
    flips = rows[:, FLIP].long()
    for codes, dim in (((1, 3), -1), ((2, 3), -2)):  # horizontal, vertical; diagonal is both
        chosen = torch.isin(flips, torch.tensor(codes)).nonzero().flatten()
        if len(chosen):
            out = out.clone() if out is images else out
            index = chosen.to(images.device)
            out[index] = out[index].flip(dim)
    order, factors = rows[:, ORDER].long(), rows[:, FACTORS]
    if bool((factors == 1).all()):
        return out
    x = out.float()
    for step in range(3):
        for op, apply in enumerate(_COLOUR_OPS):
            chosen = ((order[:, step] == op) & (factors[:, op] != 1)).nonzero().flatten()
            if not len(chosen):
                continue
            index = chosen.to(images.device)
            factor = factors[chosen, op].float().to(images.device).view(-1, 1, 1, 1)
            x[index] = apply(x[index], factor)
    return x.to(torch.uint8)
