"""tools/analysis_tools/gpu_check.py, the GPU check's command line: its refusals, before anything
is measured or imported from OpenMMLab."""

import pytest
import torch

from tools.analysis_tools import gpu_check


def test_refuses_an_existing_report_before_measuring(tmp_path, capsys):
    (tmp_path / 'gpu_check.md').write_text('earlier')
    assert gpu_check.main(['--dry', '--out-dir', str(tmp_path)]) == 2
    assert '--overwrite' in capsys.readouterr().err
    assert (tmp_path / 'gpu_check.md').read_text() == 'earlier'
    assert not (tmp_path / 'gpu_check.json').exists()


@pytest.mark.skipif(torch.cuda.is_available(), reason='this machine has CUDA')
def test_without_cuda_it_stops_with_a_message(tmp_path, capsys):
    assert gpu_check.main(['--out-dir', str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert 'no CUDA device' in err and '--dry' in err
    assert list(tmp_path.iterdir()) == []
