"""He et al.'s CIFAR ResNet-(6n+2) as a configuration of mmpretrain's ``ResNet_CIFAR``."""

from mmpretrain.models.backbones import ResNet_CIFAR
from mmpretrain.models.backbones.resnet import BasicBlock

from kdcl_mm.registry import MODELS

NUM_STAGES = 3
# ResNet-1202 is the deepest CIFAR ResNet in He et al. (2016).
MAX_BLOCKS_PER_STAGE = 200


def check_out_indices(out_indices, num_stages=NUM_STAGES):
    """Raise a ValueError unless every index names one of the stages."""
    if not out_indices or any(i not in range(num_stages) for i in out_indices):
        raise ValueError(
            f'backbone.out_indices must be a non-empty sequence of stage indices in '
            f'0..{num_stages - 1}, got {out_indices!r}'
        )


@MODELS.register_module()
class CifarResNet(ResNet_CIFAR):
    """ResNet for 32x32 inputs (He et al., 2016, Sec. 4.2): depth = 6n+2.

    Three stages of n BasicBlocks with ``base_channels`` x (1, 2, 4) channels and
    strides (1, 2, 2) after a 3x3 stem conv without max-pool; shortcuts that change
    shape are 1x1 conv + BN projections (option B). Returns a tuple of the feature
    maps of ``out_indices``; the default gives the 64-channel map of the last stage.
    Other keyword arguments (``conv_cfg``, ``zero_init_residual``, ...) go to
    :class:`mmpretrain.models.backbones.ResNet`.
    """

    arch_settings = {
        6 * n + 2: (BasicBlock, (n,) * NUM_STAGES) for n in range(1, MAX_BLOCKS_PER_STAGE + 1)
    }

    def __init__(
        self,
        depth,
        in_channels=3,
        base_channels=16,
        out_indices=(NUM_STAGES - 1,),
        frozen_stages=-1,
        norm_cfg=dict(type='BN'),
        norm_eval=False,
        **kwargs,
    ):
        if depth not in self.arch_settings:
            raise ValueError(
                f'backbone.depth must be 6n+2 with 1 <= n <= {MAX_BLOCKS_PER_STAGE} '
                f'(e.g. 20, 32, 44, 56, 110), got {depth!r}'
            )
        check_out_indices(out_indices)
        super().__init__(
            depth,
            in_channels=in_channels,
            stem_channels=base_channels,
            base_channels=base_channels,
            num_stages=NUM_STAGES,
            strides=(1, 2, 2),
            dilations=(1, 1, 1),
            out_indices=out_indices,
            frozen_stages=frozen_stages,
            norm_cfg=norm_cfg,
            norm_eval=norm_eval,
            **kwargs,
        )
