"""tools/common/report.py: the one report writer (JSON, Markdown, PNG) and its overwrite rule."""

import json

import matplotlib

matplotlib.use('Agg')
import matplotlib.pyplot as plt  # noqa: E402
import pytest  # noqa: E402

from tools.common.report import check_out_dir, md_table, write_report  # noqa: E402

NAMES = ('r.json', 'r.md')


def test_writes_json_markdown_and_figures(tmp_path):
    figure = plt.figure(figsize=(2, 1), dpi=50)
    paths = write_report(str(tmp_path / 'out'), NAMES, {'a': [1, 2]}, '# r\n', {'f.png': figure})
    assert paths == {
        'json': str(tmp_path / 'out' / 'r.json'),
        'markdown': str(tmp_path / 'out' / 'r.md'),
        'f.png': str(tmp_path / 'out' / 'f.png'),
    }
    assert json.loads((tmp_path / 'out' / 'r.json').read_text()) == {'a': [1, 2]}
    assert (tmp_path / 'out' / 'r.md').read_text() == '# r\n'
    assert (tmp_path / 'out' / 'f.png').read_bytes()[:8] == b'\x89PNG\r\n\x1a\n'
    assert not plt.fignum_exists(figure.number)  # closed once written


def test_an_earlier_report_is_kept_unless_asked(tmp_path):
    (tmp_path / 'f.png').write_bytes(b'old')
    with pytest.raises(FileExistsError, match=r'f\.png: pass --again to replace it'):
        write_report(str(tmp_path), NAMES, {}, '', {'f.png': plt.figure()}, flag='--again')
    # Nothing was written: the refusal comes before the first file.
    assert sorted(p.name for p in tmp_path.iterdir()) == ['f.png']
    write_report(str(tmp_path), NAMES, {}, 'new', {'f.png': plt.figure()}, overwrite=True)
    assert (tmp_path / 'r.md').read_text() == 'new' and (tmp_path / 'f.png').read_bytes() != b'old'


def test_check_out_dir_refuses_a_file_and_names_what_exists(tmp_path):
    (tmp_path / 'file').write_text('x')
    with pytest.raises(NotADirectoryError, match='is a file'):
        check_out_dir(str(tmp_path / 'file'), NAMES)
    (tmp_path / 'r.json').write_text('{}')
    (tmp_path / 'r.md').write_text('')
    both = r'r\.json, .*r\.md: pass --overwrite to replace them'
    with pytest.raises(FileExistsError, match=both):
        check_out_dir(str(tmp_path), NAMES)
    assert check_out_dir(str(tmp_path), NAMES, overwrite=True)['r.md'] == str(tmp_path / 'r.md')


def test_md_table_aligns_and_fills_every_cell():
    assert md_table(['a', 'b'], [[1, ''], ['x', 2.5]], align='lr') == [
        '| a | b |',
        '|---|---:|',
        '| 1 |  |',
        '| x | 2.5 |',
    ]
