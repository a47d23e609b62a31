from .held_out_split import HeldOutSplit
from .mnist_digits import MNISTDigits, mnist_splits
from .transforms import DeferredMultiView

# MNISTCocoSegDataset (mnist_coco_seg.py) is left out on purpose: it imports mmseg, which KDCL
# pretraining does not need; mmseg configs import it through custom_imports. The resumable
# sampler is runtime machinery: kdcl_mm.engine.runtime.ResumableSampler.
__all__ = ['DeferredMultiView', 'HeldOutSplit', 'MNISTDigits', 'mnist_splits']
