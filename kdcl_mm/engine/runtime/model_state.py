"""What the divergence guard and the emergency checkpoint need to know about a model's state:
whether tensors are finite, who owns a tensor, and a copy of the buffers to put back.

Nothing here knows KDCL: a model that has ``student_names`` and ``students`` (any
multi-student classifier) gets its tensors named by student, any other by its top-level
module.
"""

import math
import weakref
from collections import OrderedDict
from typing import Callable, Dict, Iterable, List, Optional, Sequence, Tuple

import torch
from mmengine.optim import OptimWrapper, OptimWrapperDict

NamedTensors = Iterable[Tuple[str, Optional[torch.Tensor]]]


def all_finite(tensors: Sequence[torch.Tensor], device=None) -> torch.Tensor:
    """A 0-dim bool tensor: no NaN or inf in any of ``tensors`` (floating ones only); on
    ``device`` (default: the CPU) when there is none to check.

    One fused reduction per device (``max |x|``, which NaN propagates through and which, unlike
    a sum or a 2-norm, cannot overflow on finite values), under ``no_grad`` rather than with a
    ``detach`` per tensor; the caller decides when to sync.
    """
    by_device: Dict[torch.device, List[torch.Tensor]] = OrderedDict()
    for t in tensors:
        if t is not None and t.is_floating_point() and t.numel():
            by_device.setdefault(t.device, []).append(t)
    if not by_device:
        return torch.ones((), dtype=torch.bool, device=device)
    first = next(iter(by_device))
    with torch.no_grad():
        flags = [
            torch.isfinite(torch.stack(torch._foreach_norm(group, math.inf))).all()
            for group in by_device.values()
        ]
        if len(flags) == 1:
            return flags[0]
        return torch.stack([f.to(first) for f in flags]).all()


def nonfinite_names(named: NamedTensors) -> List[str]:
    """Names of the floating tensors that hold a NaN or an inf (slow path: one sync each)."""
    return [
        name
        for name, t in named
        if t is not None and t.is_floating_point() and not bool(torch.isfinite(t).all())
    ]


def owner(model: torch.nn.Module, name: str) -> str:
    """Who a parameter or buffer belongs to: ``student 'resnet18'`` for a multi-student model's
    ``students.{i}.*``, else the top-level module (``module 'backbone'``)."""
    parts = name.split('.')
    student_names = getattr(model, 'student_names', None)
    if student_names and parts[0] == 'students' and len(parts) > 1 and parts[1].isdigit():
        index = int(parts[1])
        if index < len(student_names):
            return f'student {student_names[index]!r}'
    return f'module {parts[0]!r}' if len(parts) > 1 else f'parameter {name!r}'


def describe(model: torch.nn.Module, names: Sequence[str]) -> str:
    """``student 'resnet18' (students.0.backbone.conv1.weight and 61 more)`` for every owner."""
    groups: Dict[str, List[str]] = OrderedDict()
    for name in names:
        groups.setdefault(owner(model, name), []).append(name)
    return ', '.join(
        f'{who} ({found[0]}{f" and {len(found) - 1} more" if len(found) > 1 else ""})'
        for who, found in groups.items()
    )


def state_tensors(model: torch.nn.Module) -> List[Tuple[str, torch.Tensor]]:
    """Every parameter and buffer, as a checkpoint's state_dict holds them."""
    return list(model.named_parameters()) + list(model.named_buffers())


def iter_optim_wrappers(optim_wrapper) -> List[OptimWrapper]:
    """The OptimWrapper(s) a runner steps: one, or each of an OptimWrapperDict."""
    if isinstance(optim_wrapper, OptimWrapperDict):
        return list(optim_wrapper.values())
    return [optim_wrapper]


def keep_marks(wrapper, wrapped):
    """Carry the marks mmengine's schedulers put on ``optim_wrapper.step`` (``_with_counter``)
    over to a wrapper of it, so they do not warn that the step was overridden."""
    wrapper.__dict__.update(getattr(wrapped, '__dict__', {}))
    return wrapper


def student_prefixes(model: torch.nn.Module) -> List[Tuple[str, str]]:
    """``[(name, 'students.{i}.'), ...]`` for a multi-student model, ``[]`` for any other."""
    names = getattr(model, 'student_names', None)
    students = getattr(model, 'students', None)
    if not names or students is None or len(names) != len(students):
        return []
    return [(name, f'students.{i}.') for i, name in enumerate(names)]


class BufferSnapshot:
    """A copy of a module's buffers (BN running statistics, counters), to put back later.

    ``take`` copies into tensors allocated once, with one fused copy per dtype and device
    where torch has it, so taking a snapshot every iteration costs little. ``restore`` puts
    back all of them, or those whose names ``keep`` selects (one student's).
    """

    def __init__(self, module: torch.nn.Module):
        # Weak: the snapshot is kept per model (iteration_state) and must not keep it alive.
        self._module = weakref.ref(module)
        self._names: List[str] = []
        self._buffers: List[torch.Tensor] = []
        self._copies: Optional[List[torch.Tensor]] = None

    @property
    def module(self) -> torch.nn.Module:
        return self._module()

    def take(self) -> None:
        named = [(n, b) for n, b in self.module.named_buffers() if b is not None]
        buffers = [b for _, b in named]
        reuse = self._copies is not None and len(buffers) == len(self._copies)
        if reuse:
            reuse = all(
                b.shape == c.shape and b.dtype == c.dtype and b.device == c.device
                for b, c in zip(buffers, self._copies)
            )
        self._names, self._buffers = [n for n, _ in named], buffers
        if not reuse:
            self._copies = [b.detach().clone() for b in buffers]
        elif buffers:
            _copy(self._copies, buffers)

    @property
    def taken(self) -> bool:
        return self._copies is not None

    def restore(self, keep: Optional[Callable[[str], bool]] = None) -> None:
        if not self._copies:
            return
        pairs = [
            (b, c)
            for n, b, c in zip(self._names, self._buffers, self._copies)
            if keep is None or keep(n)
        ]
        if pairs:
            _copy([b for b, _ in pairs], [c for _, c in pairs])


def _copy(destinations: List[torch.Tensor], sources: List[torch.Tensor]) -> None:
    with torch.no_grad():  # buffers need no detach: nothing here records a graph
        if hasattr(torch, '_foreach_copy_'):
            torch._foreach_copy_(destinations, sources)
        else:  # torch < 2.1
            for d, s in zip(destinations, sources):
                d.copy_(s)
