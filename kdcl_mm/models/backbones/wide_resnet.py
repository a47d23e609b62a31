"""Zagoruyko & Komodakis' Wide-ResNet WRN-d-k for 32x32 inputs (BMVC 2016)."""

import torch.nn as nn
from mmcv.cnn import build_conv_layer, build_norm_layer
from mmengine.model import BaseModule
from mmpretrain.models.backbones.base_backbone import BaseBackbone

from kdcl_mm.registry import MODELS

from .cifar_resnet import NUM_STAGES, check_out_indices


class WideBasicBlock(BaseModule):
    """Pre-activation block: BN-ReLU-conv3x3-BN-ReLU-dropout-conv3x3 plus shortcut.

    When the shape changes, the shortcut is a bias-free 1x1 conv applied to the
    pre-activated input, as in the authors' code.
    """

    def __init__(
        self,
        in_channels,
        out_channels,
        stride=1,
        drop_rate=0.0,
        conv_cfg=None,
        norm_cfg=dict(type='BN'),
        init_cfg=None,
    ):
        super().__init__(init_cfg)
        self.norm1 = build_norm_layer(norm_cfg, in_channels)[1]
        self.conv1 = build_conv_layer(
            conv_cfg, in_channels, out_channels, 3, stride=stride, padding=1, bias=False
        )
        self.norm2 = build_norm_layer(norm_cfg, out_channels)[1]
        self.dropout = nn.Dropout(drop_rate)
        self.conv2 = build_conv_layer(
            conv_cfg, out_channels, out_channels, 3, padding=1, bias=False
        )
        self.relu = nn.ReLU(inplace=True)
        self.projection = None
        if stride != 1 or in_channels != out_channels:
            self.projection = build_conv_layer(
                conv_cfg, in_channels, out_channels, 1, stride=stride, bias=False
            )

    def forward(self, x):
        preact = self.relu(self.norm1(x))
        shortcut = x if self.projection is None else self.projection(preact)
        residual = self.conv2(self.dropout(self.relu(self.norm2(self.conv1(preact)))))
        return shortcut + residual


@MODELS.register_module()
class WideResNet(BaseBackbone):
    """WRN-d-k: depth = 6n+4, three stages of n wide blocks with 16k/32k/64k channels.

    A 3x3 stem conv with 16 channels, strides (1, 2, 2), and a final BN-ReLU on the
    last stage (the network is pre-activation). Returns a tuple of the feature maps
    of ``out_indices``; the default gives the 64k-channel map (128 for WRN-16-2).
    """

    def __init__(
        self,
        depth,
        widen_factor,
        drop_rate=0.0,
        in_channels=3,
        out_indices=(NUM_STAGES - 1,),
        conv_cfg=None,
        norm_cfg=dict(type='BN'),
        init_cfg=[
            dict(type='Kaiming', layer=['Conv2d']),
            dict(type='Constant', val=1, layer=['_BatchNorm', 'GroupNorm']),
        ],
    ):
        super().__init__(init_cfg)
        if not isinstance(depth, int) or depth < 10 or (depth - 4) % 6:
            raise ValueError(
                f'backbone.depth must be 6n+4 with n >= 1 (e.g. 16, 28, 40), got {depth!r}'
            )
        if not isinstance(widen_factor, int) or widen_factor < 1:
            raise ValueError(
                'backbone.widen_factor must be a positive integer '
                f'(e.g. 2 for WRN-16-2), got {widen_factor!r}'
            )
        check_out_indices(out_indices)
        self.depth = depth
        self.widen_factor = widen_factor
        self.out_indices = out_indices
        blocks_per_stage = (depth - 4) // 6

        stem_channels = 16
        self.stem = build_conv_layer(conv_cfg, in_channels, stem_channels, 3, padding=1, bias=False)
        self.stages = nn.ModuleList()
        stage_in = stem_channels
        for i, stride in enumerate((1, 2, 2)):
            stage_out = stem_channels * 2**i * widen_factor
            self.stages.append(
                nn.Sequential(
                    *[
                        WideBasicBlock(
                            stage_in if b == 0 else stage_out,
                            stage_out,
                            stride=stride if b == 0 else 1,
                            drop_rate=drop_rate,
                            conv_cfg=conv_cfg,
                            norm_cfg=norm_cfg,
                        )
                        for b in range(blocks_per_stage)
                    ]
                )
            )
            stage_in = stage_out
        self.final_norm = build_norm_layer(norm_cfg, stage_out)[1]
        self.relu = nn.ReLU(inplace=True)
        self.feat_dim = stage_out

    def forward(self, x):
        x = self.stem(x)
        outs = []
        for i, stage in enumerate(self.stages):
            x = stage(x)
            if i == len(self.stages) - 1:
                x = self.relu(self.final_norm(x))
            if i in self.out_indices:
                outs.append(x)
        return tuple(outs)
