"""tools/analysis_tools/import_cycles.py: finds a cycle through relative and late imports, and
kdcl_mm/ and tools/ have none."""

from tools.analysis_tools.import_cycles import cycles, import_graph, main, modules


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


def test_kdcl_mm_and_tools_have_no_import_cycle(capsys):
    assert main([]) == 0
    assert '0 cycle(s)' in capsys.readouterr().out
