"""Teach mmengine the ``kdcl_mm::`` config scope before any config is parsed.

mmengine only resolves ``_base_ = 'pkg::path'`` for packages listed in its
``MODULE2PACKAGE`` table, and a downstream config is parsed before its
``custom_imports`` can import kdcl_mm. ``kdcl_mm.pth`` (written into site-packages by
``tools/install.sh``) imports this tiny module at interpreter start; it adds the entry
the moment ``mmengine.config.utils`` is first imported, without importing mmengine
eagerly (which would slow down every Python start).

It also keeps ``_base_ = 'mmseg::...'`` working on VBTI's onedl-* forks: mmengine maps each
scope to the distribution that provides it (``mmseg`` -> ``mmsegmentation``) and looks that
distribution up first, then, failing that, the same name as an import name. The fork is
distributed as ``onedl-mmsegmentation``, so the lookup fails although ``mmseg`` imports. Where
the upstream distribution is absent but the package imports, the scope is mapped to its import
name, which both mmengine lines resolve through ``importlib.util.find_spec``.
"""

import importlib.abc
import importlib.machinery
import importlib.util
import sys

_TARGET = 'mmengine.config.utils'
SCOPE = 'kdcl_mm'
#: Scopes whose upstream distribution name is not their import name.
RENAMED_SCOPES = {'mmseg': 'mmsegmentation'}


def _has_distribution(name: str) -> bool:
    import importlib.metadata

    try:
        importlib.metadata.distribution(name)
    except importlib.metadata.PackageNotFoundError:
        return False
    return True


def map_scopes(table: dict) -> dict:
    """Add ``kdcl_mm`` to mmengine's scope -> package table; map renamed scopes whose upstream
    distribution is absent to their import name (see the module doc)."""
    table.setdefault(SCOPE, SCOPE)
    for scope, distribution in RENAMED_SCOPES.items():
        if (
            table.get(scope) == distribution
            and not _has_distribution(distribution)
            and importlib.util.find_spec(scope) is not None
        ):
            table[scope] = scope
    return table


def add_scope(module) -> None:
    map_scopes(module.MODULE2PACKAGE)


class _ScopeFinder(importlib.abc.MetaPathFinder):
    def find_spec(self, fullname, path, target=None):
        if fullname != _TARGET:
            return None
        spec = importlib.machinery.PathFinder.find_spec(fullname, path)
        if spec is None or spec.loader is None:
            return spec
        exec_module = spec.loader.exec_module

        def exec_and_add_scope(module):
            exec_module(module)
            add_scope(module)

        spec.loader.exec_module = exec_and_add_scope
        return spec


def install() -> None:
    if _TARGET in sys.modules:
        add_scope(sys.modules[_TARGET])
    elif not any(isinstance(f, _ScopeFinder) for f in sys.meta_path):
        sys.meta_path.insert(0, _ScopeFinder())


def write_pth(site_dir: str) -> str:
    """Write ``kdcl_mm.pth`` into ``site_dir``; returns its path."""
    import os

    path = os.path.join(site_dir, 'kdcl_mm.pth')
    with open(path, 'w') as f:
        # A .pth line must start with `import`; tolerate kdcl_mm being uninstalled later.
        f.write(
            'import importlib.util as _u; _u.find_spec("_kdcl_mm_scope") and '
            '__import__("_kdcl_mm_scope").install()\n'
        )
    return path
