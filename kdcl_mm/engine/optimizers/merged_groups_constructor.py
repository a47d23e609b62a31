"""mmengine's DefaultOptimWrapperConstructor, with one parameter group per set of options."""

from typing import List, Optional, Union

from mmengine.optim import DefaultOptimWrapperConstructor
from mmengine.registry import OPTIM_WRAPPER_CONSTRUCTORS
from torch import nn


@OPTIM_WRAPPER_CONSTRUCTORS.register_module()
class MergedGroupsOptimWrapperConstructor(DefaultOptimWrapperConstructor):
    """Gives each parameter the options ``DefaultOptimWrapperConstructor`` gives it, and puts
    the parameters that share their options into one group.

    With any ``paramwise_cfg`` (KDCL recipes set per-student options with ``custom_keys`` on
    ``students.{i}.``), mmengine builds one parameter group per tensor, about 320 for
    ResNet-50 + MobileNetV2, and torch's optimisers step group by group. On a GPU the step
    then waits on kernel launches (docs/benchmark.md, "GPU check results"). The groups here
    come in the order their first parameter does; every other option and the
    ``paramwise_cfg`` keys work as in mmengine.

    Registered in mmengine's root registry, so mmpretrain, mmdet and mmseg configs find it:
    ``optim_wrapper = dict(constructor='MergedGroupsOptimWrapperConstructor', ...)``.
    """

    def add_params(
        self,
        params: List[dict],
        module: nn.Module,
        prefix: str = '',
        is_dcn_module: Optional[Union[int, float]] = None,
    ) -> None:
        if prefix:  # mmengine's recursion into the children
            super().add_params(params, module, prefix, is_dcn_module)
            return
        per_tensor: List[dict] = []
        super().add_params(per_tensor, module, prefix, is_dcn_module)
        merged = {}
        for group in per_tensor:
            options = {k: v for k, v in group.items() if k != 'params'}
            key = tuple(sorted((k, repr(v)) for k, v in options.items()))
            if key not in merged:
                merged[key] = dict(options, params=[])
                params.append(merged[key])
            merged[key]['params'].extend(group['params'])
