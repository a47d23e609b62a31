"""Import cycles among the modules of packages (by default kdcl_mm and tools), from their source.

    python -m tools.analysis_tools.import_cycles [PACKAGE ...]   # exit 1 when there is one

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

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))


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


def main(argv=None) -> int:
    packages = (argv if argv is not None else sys.argv[1:]) or ['kdcl_mm', 'tools']
    files = {}
    for package in packages:
        files.update(modules(package))
    graph = import_graph(files)
    found = cycles(graph)
    edges = sum(map(len, graph.values()))
    print(f'{len(files)} modules, {edges} imports among them, {len(found)} cycle(s)')
    for component in found:
        print('  cycle: ' + ' <-> '.join(component))
    return 1 if found else 0


if __name__ == '__main__':
    sys.exit(main())
