"""Load local mmengine checkpoints under torch >= 2.6 without giving up ``weights_only``.

torch >= 2.6 loads with ``weights_only=True`` by default and mmengine 0.10.7 does not
pass the argument, so resuming a Runner checkpoint fails: it pickles
``HistoryBuffer`` objects (whose state holds the functions ``HistoryBuffer.min`` etc.,
pickled through ``builtins.getattr``), numpy arrays and scalars, and
``collections.Counter`` milestones of LR schedulers.

Trust decision: we never unpickle arbitrary globals. Every local checkpoint is first
loaded with torch's own ``weights_only=True`` unpickler (exported students and plain
state dicts take this path). Only if that rejects the file do we load it with a
restricted unpickler that admits exactly the globals listed below, and resolves
``getattr`` only for (allowlisted class, allowlisted attribute) pairs. Anything else
stops the load with an error that names the global. Projects that pickle other types
into checkpoints can admit them with :func:`allow_globals`.

This replaces mmengine's loader for local paths (the ``''`` scheme of
``CheckpointLoader``); ``torch.load`` itself is not patched.
"""

import _compat_pickle
import os.path as osp
import pickle
import types
from typing import Callable, Dict, Iterable, Tuple

import torch
from mmengine.runner.checkpoint import CheckpointLoader

# module -> names that may be looked up when unpickling a checkpoint.
_ALLOWED: Dict[str, set] = {
    'collections': {'OrderedDict', 'Counter', 'defaultdict', 'deque'},
    'builtins': {'set', 'frozenset', 'slice', 'complex', 'range', 'bytearray'},
    '_codecs': {'encode'},  # how protocol 2 pickles bytes
    'torch': {'Size', 'device', 'dtype'},
    'torch._utils': {
        '_rebuild_tensor',
        '_rebuild_tensor_v2',
        '_rebuild_tensor_v3',
        '_rebuild_parameter',
        '_rebuild_parameter_with_state',
        '_rebuild_sparse_tensor',
        '_rebuild_device_tensor_from_numpy',
        '_rebuild_qtensor',
        '_rebuild_meta_tensor_no_storage',
        '_rebuild_wrapper_subclass',
        '_rebuild_nested_tensor',
    },
    'torch._tensor': {'_rebuild_from_type_v2'},
    'torch.nn.parameter': {'Parameter'},
    'numpy': {'ndarray', 'dtype'},
    'numpy.core.multiarray': {'_reconstruct', 'scalar'},
    'numpy._core.multiarray': {'_reconstruct', 'scalar'},
    'mmengine.logging.history_buffer': {'HistoryBuffer'},
    'mmengine.config.config': {'ConfigDict'},
}
# (module, class) -> attributes that a pickled ``getattr(cls, name)`` may resolve.
_ALLOWED_GETATTR: Dict[Tuple[str, str], set] = {
    ('mmengine.logging.history_buffer', 'HistoryBuffer'): {'min', 'max', 'current', 'mean'},
}


def allow_globals(module: str, names: Iterable[str]) -> None:
    """Admit more ``module.name`` globals in checkpoints (for types you trust)."""
    _ALLOWED.setdefault(module, set()).update(names)


def _is_allowed(module: str, name: str) -> bool:
    if name in _ALLOWED.get(module, ()):
        return True
    # torch dtypes (torch.float32, ...) and numpy dtype classes (numpy.dtypes.Float32DType)
    if module == 'torch' and isinstance(getattr(torch, name, None), torch.dtype):
        return True
    return module == 'numpy.dtypes' and name.endswith('DType')


class UnsafeCheckpointError(pickle.UnpicklingError):
    """The checkpoint references a global outside the allowlist."""


def _guarded_getattr(obj, name):
    key = (getattr(obj, '__module__', None), getattr(obj, '__qualname__', None))
    if name in _ALLOWED_GETATTR.get(key, ()):
        return getattr(obj, name)
    raise UnsafeCheckpointError(
        f'checkpoint asks for getattr({key[0]}.{key[1]}, {name!r}), which is not '
        'allowlisted in kdcl_mm.engine.runtime.checkpoint_loading'
    )


class RestrictedUnpickler(pickle.Unpickler):
    def find_class(self, module: str, name: str):
        # Protocol-2 pickles (torch's default) name Python 2 modules, e.g. __builtin__.
        # (The mapped names do not exist in Python 3, so mapping unconditionally is harmless.)
        if (module, name) in _compat_pickle.NAME_MAPPING:
            module, name = _compat_pickle.NAME_MAPPING[(module, name)]
        module = _compat_pickle.IMPORT_MAPPING.get(module, module)
        if module == 'builtins' and name == 'getattr':
            return _guarded_getattr
        if _is_allowed(module, name):
            return super().find_class(module, name)
        raise UnsafeCheckpointError(
            f'checkpoint references {module}.{name}, which kdcl_mm does not unpickle. '
            'If you trust this file and its type, admit it with '
            f'kdcl_mm.engine.runtime.checkpoint_loading.allow_globals({module!r}, [{name!r}])'
        )


# torch.load(pickle_module=...) needs a module-like object with Unpickler and load.
restricted_pickle = types.SimpleNamespace(
    Unpickler=RestrictedUnpickler,
    load=lambda f, **kw: RestrictedUnpickler(f, **kw).load(),
    __name__='kdcl_mm_restricted_pickle',
)


def load_local_checkpoint(filename: str, map_location=None):
    """Load a local checkpoint: weights_only first, then the restricted unpickler."""
    filename = osp.expanduser(filename)
    if not osp.isfile(filename):
        raise FileNotFoundError(
            f'checkpoint {filename!r} does not exist; check the path given to '
            '`load_from`, `--resume`, `init_cfg.checkpoint` or the CLI.'
        )
    try:
        return torch.load(filename, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError:
        pass  # not a plain weights file: try the allowlist below
    except (RuntimeError, EOFError, ValueError) as e:
        raise _unreadable(filename, e) from e
    try:
        return torch.load(
            filename, map_location=map_location, weights_only=False, pickle_module=restricted_pickle
        )
    except UnsafeCheckpointError:
        raise
    except (RuntimeError, EOFError, ValueError, pickle.UnpicklingError) as e:
        raise _unreadable(filename, e) from e


def _unreadable(filename: str, err: Exception) -> RuntimeError:
    return RuntimeError(
        f'cannot read checkpoint {filename!r}: it is truncated, corrupt or not a '
        f'PyTorch checkpoint ({type(err).__name__}: {err}). Re-save or re-download it.'
    )


_registered: Callable = None


def register_checkpoint_loader() -> None:
    """Make mmengine use :func:`load_local_checkpoint` for local paths."""
    global _registered
    if _registered is None:
        CheckpointLoader.register_scheme(prefixes='', force=True)(load_local_checkpoint)
        _registered = load_local_checkpoint
