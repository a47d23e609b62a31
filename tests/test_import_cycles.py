"""No import cycle among the modules of kdcl_mm/ and tools/, from their source (issue 18).

Every ``import`` and ``from ... import`` counts, at module level or inside a function (a cycle
through a late import is still a cycle of who depends on whom). ``from a import b`` is an edge
to the module ``a.b`` when that is a module, else to ``a``. Importing a module also runs its
packages' ``__init__``; those implied edges are left out, as import linters do.
"""

import ast
import os
import os.path as osp
import sys
from typing import Dict, List, Set

from tests.paths import REPO


def modules(package: str, root: str = REPO) -> Dict[str, str]:
    """Dotted module name -> file, for every ``.py`` file of ``package``."""
    found = {}
    for folder, _, files in os.walk(osp.join(root, package)):
        for name in files:
            if name.endswith('.py'):
                rel = osp.relpath(osp.join(folder, name), root)[:-3].split(os.sep)
                found['.'.join(rel[:-1] if rel[-1] == '__init__' else rel)] = osp.join(folder, name)
    return found


def import_graph(files: Dict[str, str]) -> Dict[str, Set[str]]:
    """Module -> the modules of ``files`` it imports."""
    graph = {}
    for module, path in files.items():
        is_package = path.endswith('__init__.py')
        targets = set()
        for node in ast.walk(ast.parse(open(path).read(), path)):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ''
                if node.level:  # relative: from the module's package, `level - 1` up
                    parts = module.split('.')[: None if is_package else -1]
                    parts = parts[: len(parts) - node.level + 1]
                    base = '.'.join(parts + ([node.module] if node.module else []))
                for alias in node.names:
                    sub = f'{base}.{alias.name}'
                    targets.add(sub if sub in files else base)
        graph[module] = {t for t in targets if t in files and t != module}
    return graph


def cycles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """The strongly connected components with more than one module (Tarjan), sorted."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while not component or component[-1] != v:
                component.append(stack.pop())
                on_stack.discard(component[-1])
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10 * len(graph)))
    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(found)


def write(root, files):
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)


def test_a_cycle_through_a_late_relative_import_is_found(tmp_path):
    write(
        tmp_path,
        {
            'pkg/__init__.py': '',
            'pkg/a.py': 'from .b import thing\n',
            'pkg/b.py': 'def thing():\n    from pkg import c\n',
            'pkg/c.py': 'from . import a\nimport os\n',
            'pkg/d.py': 'from pkg.a import thing\n',  # depends on the cycle, not in it
            'pkg/sub/__init__.py': 'from ..d import thing\n',
        },
    )
    files = modules('pkg', str(tmp_path))
    graph = import_graph(files)
    assert graph['pkg.c'] == {'pkg.a'} and graph['pkg.sub'] == {'pkg.d'}
    assert cycles(graph) == [['pkg.a', 'pkg.b', 'pkg.c']]


def test_kdcl_mm_and_tools_have_no_import_cycle():
    files = {**modules('kdcl_mm'), **modules('tools')}
    graph = import_graph(files)
    assert len(files) > 90 and sum(map(len, graph.values())) > 150  # the whole tree was read
    assert cycles(graph) == []
