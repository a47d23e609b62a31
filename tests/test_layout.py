"""The package's layering, as docs/architecture.md states it: no import cycle among the modules
of kdcl_mm/ and tools/; the runtime and utils layers import only each other; nothing in kdcl_mm
imports tools, the launch layer or the apis; only the demo imports tools.demo."""

import ast
from pathlib import Path
from typing import Dict, List, Set

from tests.paths import REPO

PACKAGES = ('kdcl_mm', 'tools')


def module_files() -> Dict[str, Path]:
    modules = {}
    for package in PACKAGES:
        for path in sorted((Path(REPO) / package).rglob('*.py')):
            parts = list(path.relative_to(REPO).with_suffix('').parts)
            if parts[-1] == '__init__':
                parts.pop()
            modules['.'.join(parts)] = path
    return modules


def import_graph(modules: Dict[str, Path]) -> Dict[str, Set[str]]:
    """Module -> the project modules it imports anywhere in its body (lazy imports too: a
    cycle through a function-level import is still a circle a reader has to untangle).
    Importing one's own parent package does not count: Python runs it first anyway."""

    def project_module(name: str):
        while name and name not in modules:
            name = name.rpartition('.')[0]
        return name or None

    graph = {}
    for name, path in modules.items():
        package = name if path.name == '__init__.py' else name.rpartition('.')[0]
        imported = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ''
                if node.level:
                    anchor = package
                    for _ in range(node.level - 1):
                        anchor = anchor.rpartition('.')[0]
                    base = f'{anchor}.{base}' if base else anchor
                targets = [base] + [f'{base}.{alias.name}' for alias in node.names]
            else:
                continue
            for target in targets:
                found = project_module(target)
                if found and found != name and not name.startswith(found + '.'):
                    imported.add(found)
        graph[name] = imported
    return graph


def cycles(graph: Dict[str, Set[str]]) -> List[List[str]]:
    """The strongly connected components with more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for other in sorted(graph[node]):
            if other not in index:
                visit(other)
                low[node] = min(low[node], low[other])
            elif other in on_stack:
                low[node] = min(low[node], index[other])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def test_the_cycle_finder_finds_a_circle():
    graph = {'a': {'b'}, 'b': {'c'}, 'c': {'a'}, 'd': {'a'}}
    assert cycles(graph) == [['a', 'b', 'c']]


def test_no_import_cycle_in_kdcl_mm_or_tools():
    assert cycles(import_graph(module_files())) == []


def test_runtime_and_utils_never_import_the_method():
    graph = import_graph(module_files())
    lower = [m for m in graph if m.startswith(('kdcl_mm.engine.runtime', 'kdcl_mm.utils'))]
    assert lower
    upward = {
        m: sorted(
            d for d in graph[m] if not d.startswith(('kdcl_mm.engine.runtime', 'kdcl_mm.utils'))
        )
        for m in lower
    }
    assert {m: d for m, d in upward.items() if d} == {}


def imports_of(graph: Dict[str, Set[str]], importers: tuple, imported: tuple) -> dict:
    """The modules starting with ``importers`` -> those of ``imported`` that they import,
    leaving out imports inside the imported package itself."""
    found = {}
    for module, deps in graph.items():
        if not module.startswith(importers) or module.startswith(imported):
            continue
        upward = sorted(d for d in deps if d.startswith(imported))
        if upward:
            found[module] = upward
    return found


def test_kdcl_mm_never_imports_tools_the_launch_layer_or_the_apis():
    graph = import_graph(module_files())
    assert imports_of(graph, ('kdcl_mm',), ('tools',)) == {}
    assert imports_of(graph, ('kdcl_mm',), ('kdcl_mm.launch', 'kdcl_mm.apis')) == {}


def test_only_the_demo_imports_tools_demo():
    graph = import_graph(module_files())
    assert imports_of(graph, ('tools',), ('tools.demo',)) == {}
