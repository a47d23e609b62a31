"""``StrictPretrained``: mmengine's ``Pretrained`` initialiser, but a key mismatch is an error.

mmengine's ``Pretrained`` loads with ``strict=False``: missing or unexpected keys, and
shape mismatches, are only logged (missing BN ``num_batches_tracked`` not even that), so a
backbone whose keys do not match its checkpoint silently trains from random weights. This
one compares every key of ``module.state_dict()`` (buffers included) and every shape with
the checkpoint and raises before training starts.

Registered in mmengine's root ``WEIGHT_INITIALIZERS``, so mmpretrain, mmdet and mmseg
models all accept ``init_cfg=dict(type='StrictPretrained', checkpoint=..., prefix=...)``.
"""

import re
from typing import Dict, List, Optional

import torch
import torch.nn as nn
from mmengine.logging import print_log
from mmengine.model import BaseModule
from mmengine.model.weight_init import PretrainedInit, update_init_info
from mmengine.registry import WEIGHT_INITIALIZERS
from mmengine.runner.checkpoint import _load_checkpoint

_MAX_LISTED = 10


@WEIGHT_INITIALIZERS.register_module(name='StrictPretrained')
class StrictPretrainedInit(PretrainedInit):
    """Load ``checkpoint`` (the keys under ``prefix``, stripped) with strict key checking.

    Args:
        checkpoint: path or URL of the checkpoint.
        prefix: keep only the keys under this prefix, e.g. ``'backbone.'`` for an
            exported student or ``'students.0.backbone.'`` for a KDCL checkpoint.
        map_location: as for :func:`torch.load`.

    Note:
        mmpretrain's ``ResNet`` skips ``zero_init_residual`` only for ``type='Pretrained'``,
        so set ``zero_init_residual=False`` in a ResNet backbone that uses this initialiser.
    """

    def __call__(self, module: nn.Module) -> None:
        state_dict = self.load_state_dict()
        mismatch = describe_mismatch(module.state_dict(), state_dict)
        if mismatch:
            raise ValueError(
                f'init_cfg StrictPretrained: checkpoint {self.checkpoint!r} with prefix '
                f'{self.prefix!r} does not match {type(module).__name__}: {mismatch}. '
                'Point init_cfg.checkpoint at a checkpoint of this exact backbone (class '
                'and arguments), or fix init_cfg.prefix.'
            )
        print_log(
            f'load {self.prefix or "all keys"} of {self.checkpoint} (strict)', logger='current'
        )
        module.load_state_dict(state_dict, strict=True)
        _mark_children_initialised(module)
        if hasattr(module, '_params_init_info'):
            update_init_info(module, init_info=self._get_init_info())

    def load_state_dict(self) -> Dict[str, torch.Tensor]:
        """The checkpoint's state dict, restricted to ``prefix`` and stripped of it."""
        checkpoint = _load_checkpoint(self.checkpoint, map_location=self.map_location)
        state_dict = (
            checkpoint.get('state_dict', checkpoint) if isinstance(checkpoint, dict) else None
        )
        if not isinstance(state_dict, dict):
            raise ValueError(
                f'init_cfg StrictPretrained: {self.checkpoint!r} holds no state '
                'dict; give a checkpoint saved by mmengine or torch.save.'
            )
        # DataParallel / DDP wrappers, as mmengine's load_checkpoint strips them.
        state_dict = {re.sub(r'^module\.', '', k): v for k, v in state_dict.items()}
        if not self.prefix:
            return state_dict
        prefix = self.prefix if self.prefix.endswith('.') else self.prefix + '.'
        selected = {k[len(prefix) :]: v for k, v in state_dict.items() if k.startswith(prefix)}
        if not selected:
            raise ValueError(
                f'init_cfg StrictPretrained: no key of {self.checkpoint!r} starts with '
                f'prefix {prefix!r}; its key prefixes are {_key_prefixes(state_dict)}. '
                "Set init_cfg.prefix to one of them (e.g. 'backbone.' for an exported "
                "student, 'students.0.backbone.' for a KDCL checkpoint)."
            )
        return selected

    def _get_init_info(self) -> str:
        return f'{type(self).__name__}: load {self.prefix or ""} from {self.checkpoint}'


def describe_mismatch(
    expected: Dict[str, torch.Tensor], given: Dict[str, torch.Tensor]
) -> Optional[str]:
    """Missing keys, unexpected keys and shape mismatches, or None when they agree."""
    missing = sorted(set(expected) - set(given))
    unexpected = sorted(set(given) - set(expected))
    shapes = [
        f'{k}: checkpoint {tuple(given[k].shape)} vs model {tuple(expected[k].shape)}'
        for k in sorted(set(expected) & set(given))
        if tuple(given[k].shape) != tuple(expected[k].shape)
    ]
    problems = [
        f'{title} ({len(keys)}): {_listing(keys)}'
        for title, keys in (
            ('missing keys', missing),
            ('unexpected keys', unexpected),
            ('shape mismatches', shapes),
        )
        if keys
    ]
    return '; '.join(problems) or None


def _listing(items: List[str]) -> str:
    shown = ', '.join(items[:_MAX_LISTED])
    return shown + (f', ... (+{len(items) - _MAX_LISTED} more)' if len(items) > _MAX_LISTED else '')


def _key_prefixes(state_dict: Dict[str, torch.Tensor]) -> List[str]:
    """Distinct module paths up to three levels deep, e.g. ``students.0.backbone.``."""
    return sorted(
        {'.'.join(k.split('.')[: 3 if k.startswith('students.') else 1]) + '.' for k in state_dict}
    )


def _mark_children_initialised(module: nn.Module) -> None:
    # BaseModule.init_weights defers only mmengine's own `Pretrained` until after the
    # children's init_weights; any other initialiser runs first, so the children (e.g.
    # ConvModule) would re-initialise the weights just loaded.
    for sub in module.modules():
        if sub is module or not hasattr(sub, 'init_weights'):
            continue
        if isinstance(sub, BaseModule):
            sub._is_init = True
        else:
            sub.is_init = True
