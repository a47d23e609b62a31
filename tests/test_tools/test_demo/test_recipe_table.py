"""tools/demo/recipe_table.py through the recipe search's --table-only on hand-written General
runs: General's weightings compared (the table, the paired lines, the choice), and their plot."""

import json
import os
import os.path as osp

from tools.demo import recipe_search
from tools.demo.recipe_search import Candidate

from .demo_files import write_lines

# weighting -> seed -> (val ensemble top-1, resnet18 top-1, weights of resnet18 per epoch)
RUNS = {
    'closed_form': {0: (94.0, 93.0, [1.5, -0.5, 1.0]), 1: (95.0, 94.0, [0.2, 0.8, 0.4])},
    'simplex': {0: (95.0, 93.5, [1.0, 0.0, 1.0]), 1: (96.0, 94.5, [0.2, 0.8, 0.4])},
    'shrinkage': {0: (95.0, 93.0, [0.6, 0.5, 0.6]), 1: (96.0, 94.0, [0.5, 0.5, 0.5])},
}
GRID = ['--temperatures', '4', '--kd-weights', '1', '--coarse-seeds', '0', '1']


def write_run(out_dir, weighting, seed):
    """What tools/train.py leaves of a General run: val and weight scalars, a last checkpoint."""
    ensemble, resnet, weights = RUNS[weighting][seed]
    work_dir = osp.join(out_dir, 'runs', Candidate(f'General:{weighting}', 4.0, 1.0, False).name)
    work_dir = osp.join(work_dir, f'seed{seed}')
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
    write_lines(osp.join(work_dir, '20261130_000000', 'vis_data', 'scalars.json'), records)
    with open(osp.join(work_dir, 'last_checkpoint'), 'w') as f:
        f.write(osp.join(work_dir, 'epoch_3.pth'))


def test_general_weightings_compared_from_finished_runs(tmp_path):
    out = str(tmp_path)
    for weighting, seeds in RUNS.items():
        for seed in seeds:
            write_run(out, weighting, seed)
    generators = [f'General:{w}' for w in RUNS]
    argv = ['--out-dir', out, '--generators', *generators, *GRID, '--stages', 'coarse']
    recipe_search.main([*argv, '--table-only'])
    text = open(osp.join(out, 'val_table.md')).read()
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
    assert osp.getsize(osp.join(out, 'general_weighting.png')) > 0
    # The same numbers in the JSON table, per candidate.
    table = json.loads(open(osp.join(out, 'val_table.json')).read())
    general = {row['general']['weighting']: row['general'] for row in table['candidates']}
    assert general['shrinkage']['shrinkage'] == [0.1, 0.30000000000000004]
    assert general['closed_form']['weights'] == [-0.5, 1.5]
    assert general['closed_form']['ensemble']['per_seed'] == {'0': 94.0, '1': 95.0}


def test_one_weighting_alone_has_no_comparison(tmp_path):
    out = str(tmp_path)
    write_run(out, 'simplex', 0)
    argv = ['--out-dir', out, '--generators', 'General:simplex', *GRID, '--stages', 'coarse']
    recipe_search.main([*argv, '--table-only'])
    assert "General's weightings" not in open(osp.join(out, 'val_table.md')).read()
    assert not os.path.exists(osp.join(out, 'general_weighting.png'))
