"""tools/demo/compare_general_weighting on hand-written runs: table, paired lines, choice, plot."""

import json
import os
import os.path as osp

from tools.demo import compare_general_weighting as cgw

# weighting -> seed -> (val ensemble top-1, resnet18 top-1, weights of resnet18 per epoch)
RUNS = {
    'closed_form': {0: (94.0, 93.0, [1.5, -0.5, 1.0]), 1: (95.0, 94.0, [0.2, 0.8, 0.4])},
    'simplex': {0: (95.0, 93.5, [1.0, 0.0, 1.0]), 1: (96.0, 94.5, [0.2, 0.8, 0.4])},
    'shrinkage': {0: (95.0, 93.0, [0.6, 0.5, 0.6]), 1: (96.0, 94.0, [0.5, 0.5, 0.5])},
}


def write_run(work_dir, weighting, seed):
    ensemble, resnet, weights = RUNS[weighting][seed]
    run = osp.join(cgw.run_dir(work_dir, weighting, seed), '20261130_000000', 'vis_data')
    records = []
    for epoch, w in enumerate(weights, 1):
        records.append(
            {
                'general_weight/resnet18': w,
                'general_weight/mobilenet_v2': 1 - w,
                'epoch': epoch,
                'iter': 10 * epoch,
                'step': 10 * epoch,
            }
        )
        if weighting == 'shrinkage':
            records[-1]['general_shrinkage'] = 0.1 * epoch
        records.append(
            {
                'ensemble/top1': ensemble - 1 if epoch < 3 else ensemble,
                'resnet18/top1': resnet,
                'mobilenet_v2/top1': 90.0,
                'step': epoch,
            }
        )
    os.makedirs(run)
    with open(osp.join(run, 'scalars.json'), 'w') as f:
        f.write('\n'.join(json.dumps(r) for r in records) + '\n')


def test_report_from_finished_runs(tmp_path):
    work_dir = str(tmp_path)
    for weighting, seeds in RUNS.items():
        for seed in seeds:
            write_run(work_dir, weighting, seed)
    cgw.main(['--work-dir', work_dir, '--seeds', '0', '1', '--report-only'])
    text = open(osp.join(work_dir, 'general_weighting.md')).read()
    assert (
        '| `closed_form` | 94.5 ± 0.7 (94.0, 95.0) | 90.0 ± 0.0 (90.0, 90.0) | '
        '93.5 ± 0.7 (93.0, 94.0) | -0.50 / +1.50 | 1.125 |' in text
    )
    # Mean |change| between epochs, per seed: closed form (2 + 1.5) / 2 and (0.6 + 0.4) / 2.
    assert '| `simplex` | 95.5 ± 0.7 (95.0, 96.0) |' in text and '+0.00 / +1.00 | 0.750 |' in text
    assert (
        '- `simplex` − `closed_form`, val ensemble top-1: mean +1.0 over 2 seeds, '
        '95 % t-interval [+1.0, +1.0]; higher in 2 of 2 seeds.'
    ) in text
    # simplex and shrinkage tie on accuracy; shrinkage's weights are steadier.
    assert 'Chosen: `shrinkage`' in text
    assert 'Shrinkage intensity over epochs and seeds: 0.10 to 0.30.' in text
    assert osp.getsize(osp.join(work_dir, 'general_weighting.png')) > 0
