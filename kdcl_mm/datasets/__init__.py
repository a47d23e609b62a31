from .held_out_split import HeldOutSplit
from .mnist_digits import MNISTDigits, mnist_splits
from .samplers import ResumableSampler

# MNISTCocoSegDataset (mnist_coco_seg.py) is left out on purpose: it imports mmseg, which KDCL
# pretraining does not need; mmseg configs import it through custom_imports.
__all__ = ['HeldOutSplit', 'MNISTDigits', 'ResumableSampler', 'mnist_splits']
