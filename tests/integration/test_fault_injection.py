"""tools.analysis_tools.fault_injection end to end: tools/train.py and tools/test.py run as
subprocesses on tiny data, and the report reads what NaNLogitsHook and DivergenceGuardHook
logged."""

import json

import pytest

from tools.analysis_tools import fault_injection as fi


@pytest.mark.slow
def test_end_to_end_one_generator_one_epoch_of_tiny_data(tmp_path):
    tiny = ['train_dataloader.dataset.num_labeled=20', 'train_dataloader.batch_size=10']
    tiny += ['val_dataloader.dataset.indices=20', 'test_dataloader.dataset.indices=20']
    fi.main(['--out-dir', str(tmp_path), '--generators', 'Mean', '--epochs', '1',
             '--fraction', '0.5', '--cfg-options', *tiny])  # fmt: skip
    with open(tmp_path / 'report.json') as f:
        rows = {r['arm']: r for r in json.load(f)['rows']}
    assert rows['clean']['faulty_iterations'] == [] and rows['clean']['skipped_steps'] == 0
    for arm in ('isolated', 'not_isolated'):
        assert rows[arm]['faulty_iterations'] == [1]  # 1 of the 2 iterations
        assert rows[arm]['skipped_steps'] == 1 and rows[arm]['stopped'] is None
        assert 0.0 <= rows[arm]['top1'] <= 100.0
