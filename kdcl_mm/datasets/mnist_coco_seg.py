"""MNIST-COCO semantic segmentation for mmseg (canvases written by
``tools/dataset_converters/mnist_coco.py``).

Not imported by ``import kdcl_mm``: mmseg configs name it in ``custom_imports``, so that KDCL
pretraining never imports mmseg or needs mmcv's compiled ops.
"""

from kdcl_mm.utils.compiled_ops import require_compiled_ops

require_compiled_ops('mmseg and its MNISTCocoSegDataset')

from mmseg.datasets import BaseSegDataset  # noqa: E402
from mmseg.registry import DATASETS as SEG_DATASETS  # noqa: E402

from .mnist_digits import MNIST_CLASSES  # noqa: E402

TAB10 = [
    [31, 119, 180],
    [255, 127, 14],
    [44, 160, 44],
    [214, 39, 40],
    [148, 103, 189],
    [140, 86, 75],
    [227, 119, 194],
    [127, 127, 127],
    [188, 189, 34],
    [23, 190, 207],
]


@SEG_DATASETS.register_module()
class MNISTCocoSegDataset(BaseSegDataset):
    """Semantic segmentation on MNIST-COCO: 11 classes, 0 is background.

    Use ``data_prefix=dict(img_path='images/train', seg_map_path='seg_maps/train')``.
    """

    METAINFO = dict(classes=('background',) + MNIST_CLASSES, palette=[[0, 0, 0]] + TAB10)

    def __init__(
        self,
        img_suffix: str = '.png',
        seg_map_suffix: str = '.png',
        reduce_zero_label: bool = False,
        **kwargs,
    ):
        super().__init__(
            img_suffix=img_suffix,
            seg_map_suffix=seg_map_suffix,
            reduce_zero_label=reduce_zero_label,
            **kwargs,
        )
