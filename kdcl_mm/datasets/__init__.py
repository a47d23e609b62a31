from .held_out_split import HeldOutSplit  # noqa: F401
from .mnist_coco import MNISTCocoSegDataset, generate_mnist_coco  # noqa: F401
from .mnist_digits import MNISTDigits, mnist_splits  # noqa: F401
