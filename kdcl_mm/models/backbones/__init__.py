from .cifar_resnet import CifarResNet  # noqa: F401
from .wide_resnet import WideResNet  # noqa: F401
