"""Only adds ``kdcl_mm.pth`` to the wheel; everything else is in pyproject.toml.

The .pth line (see ``_kdcl_mm_scope.write_pth``) teaches mmengine the ``kdcl_mm::`` config
scope at interpreter start, so a downstream config that inherits ``kdcl_mm::...`` parses
before anything imports kdcl_mm. A .pth file must sit at the top of site-packages, which
package data cannot reach; build_py can.
"""

import importlib.util
import os.path as osp

from setuptools import setup
from setuptools.command.build_py import build_py

# Loaded by path: PEP 517 backends do not put the source tree on sys.path.
_spec = importlib.util.spec_from_file_location(
    '_kdcl_mm_scope', osp.join(osp.dirname(osp.abspath(__file__)), '_kdcl_mm_scope.py')
)
_kdcl_mm_scope = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_kdcl_mm_scope)


class BuildPyWithScopePth(build_py):
    def run(self):
        super().run()
        self.mkpath(self.build_lib)
        _kdcl_mm_scope.write_pth(self.build_lib)

    def get_outputs(self, include_bytecode=True):
        return super().get_outputs(include_bytecode) + [osp.join(self.build_lib, 'kdcl_mm.pth')]


setup(cmdclass={'build_py': BuildPyWithScopePth})
