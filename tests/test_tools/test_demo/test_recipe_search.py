"""tools/demo/recipe_search.py on a tiny grid, with the launcher's child process replaced by a
fake that writes what tools/train.py would (a last checkpoint and val scalars): which runs each
stage launches, that nothing reads test, resuming, and the val table's structure."""

import json
import os
import os.path as osp
import re

import pytest
from mmengine.config import Config

from tools.common.sweep import Launcher
from tools.demo import recipe_search
from tools.demo.recipe_search import Candidate, candidate_config

SOLO_VAL = {'resnet18': 88.0, 'mobilenet_v2': 94.0}
MBV2_GAIN = {'Mean': 0.4, 'Linear': 0.1}


def val_top1(student, generator, t, weight, warmup, seed):
    """The fake's val accuracy: ResNet-18 always gains ~5; the MobileNetV2's gain decides."""
    noise = 0.01 * (-1) ** seed
    if student == 'resnet18':
        return SOLO_VAL[student] + 5.0 + 0.1 * t + noise
    return (
        SOLO_VAL[student]
        + MBV2_GAIN[generator]
        + 0.05 * (t == 4)
        + 0.02 * weight
        + 0.03 * warmup
        + noise
    )


class FakeTraining:
    def __init__(self):
        self.calls = []

    def __call__(self, cmd, log):
        self.calls.append(list(cmd))
        assert cmd[0] == 'tools/train.py'  # never tools/test.py: the test split is not read
        config, work_dir = cmd[1], cmd[cmd.index('--work-dir') + 1]
        seed = int(next(o for o in cmd if o.startswith('randomness.seed=')).split('=')[1])
        name = osp.basename(config)[:-3]
        if 'baselines' in config:
            student = 'resnet18' if 'resnet18' in name else 'mobilenet_v2'
            final = {'accuracy/top1': SOLO_VAL[student] + 0.01 * (-1) ** seed}
        else:
            gen, t, w, warm = re.fullmatch(r'(\w+?)_T([\d.]+)_w([\d.]+)_(\w+)', name).groups()
            final = {
                f'{s}/top1': val_top1(s, gen, float(t), float(w), warm == 'warmup', seed)
                for s in SOLO_VAL
            }
        os.makedirs(osp.join(work_dir, '20260101_000000', 'vis_data'), exist_ok=True)
        with open(osp.join(work_dir, '20260101_000000', 'vis_data', 'scalars.json'), 'w') as f:
            for epoch in range(1, 6):  # flat last 5 epochs: their mean is the last value
                f.write(json.dumps(dict(final, step=epoch)) + '\n')
        with open(osp.join(work_dir, 'last_checkpoint'), 'w') as f:
            f.write(osp.join(work_dir, 'epoch_5.pth'))
        return 0, 1.0


GRID = [
    '--generators',
    'Mean',
    'Linear',
    '--temperatures',
    '2',
    '4',
    '--kd-weights',
    '1',
    '2',
    '--coarse-seeds',
    '0',
    '1',
    '--final-seeds',
    '0',
    '1',
    '2',
    '--refine-top',
    '1',
    '--final-top',
    '2',
    '--jobs',
    '2',
]


@pytest.fixture
def fake(monkeypatch):
    fake = FakeTraining()
    monkeypatch.setattr(Launcher, 'spawn', lambda self, cmd, log: fake(cmd, log))
    return fake


def test_tiny_grid_runs_the_stages_and_tabulates_every_candidate(tmp_path, fake, capsys):
    out = tmp_path / 'search'
    recipe_search.main(['--out-dir', str(out), *GRID])
    # coarse: 2 seeds x (2 solo + 2 generators x 2 T); refine: the best (Mean T=4) x
    # λ {1, 2} x warm-up {off, on} minus the coarse one = 3 new, 2 seeds; final: seed 2 of the
    # 2 solo students and the 2 finalists.
    assert len(fake.calls) == 2 * (2 + 4) + 3 * 2 + (2 + 2)
    assert all('--overwrite' in c for c in fake.calls)

    table = json.loads((out / 'val_table.json').read_text())
    assert table['split'] == 'val' and table['students'] == ['resnet18', 'mobilenet_v2']
    labels = [row['label'] for row in table['candidates']]
    assert len(labels) == 7 == len(set(labels))  # every candidate, pruned or not
    assert labels[:2] == ['Mean T=4 λ=2 +warm-up', 'Mean T=4 λ=1 +warm-up']  # finalists first
    by_label = {row['label']: row for row in table['candidates']}
    assert table['winner'] == 'Mean T=4 λ=2 +warm-up'
    assert by_label['Mean T=4 λ=2 +warm-up']['status'] == 'winner'
    assert by_label['Mean T=4 λ=1 +warm-up']['status'] == 'finalist'
    assert by_label['Linear T=2 λ=1']['status'] == 'pruned after coarse'
    assert by_label['Mean T=4 λ=2']['status'] == 'pruned after refine'
    assert by_label['Mean T=4 λ=2 +warm-up']['seeds'] == [0, 1, 2]
    assert by_label['Linear T=2 λ=1']['seeds'] == [0, 1]
    # Score: the smaller mean gain of the two students (the MobileNetV2's here).
    mbv2 = by_label['Linear T=2 λ=1']['students']['mobilenet_v2']['last5']
    assert mbv2['vs_solo']['delta']['mean'] == pytest.approx(0.1 + 0.02)
    assert by_label['Linear T=2 λ=1']['score'] == pytest.approx(0.12)
    assert mbv2['vs_solo']['interval']['low'] is not None
    assert (
        set(mbv2) == {'kdcl', 'vs_solo'}
        and 'last' in by_label['Linear T=2 λ=1']['students']['mobilenet_v2']
    )

    markdown = (out / 'val_table.md').read_text()
    rows = [line for line in markdown.splitlines() if line.startswith('| ')]
    candidate_rows = [r for r in rows if r.split(' | ')[0] in ('| coarse', '| refine', '| final')]
    assert len(candidate_rows) == 7
    widths = {r.count('|') for r in rows[2:]}  # the candidate table (header, separator, rows)
    assert len(widths) == 1
    assert 'Winner: Mean T=4 λ=2 +warm-up' in markdown

    # Resumable: a second call trains nothing and writes the same table.
    fake.calls.clear()
    recipe_search.main(['--out-dir', str(out), *GRID])
    assert fake.calls == []
    assert json.loads((out / 'val_table.json').read_text()) == table


def test_coarse_stage_alone_has_no_winner(tmp_path, fake):
    out = tmp_path / 'search'
    recipe_search.main(['--out-dir', str(out), *GRID, '--stages', 'coarse'])
    assert len(fake.calls) == 2 * (2 + 4)
    table = json.loads((out / 'val_table.json').read_text())
    assert table['winner'] is None and len(table['candidates']) == 4
    assert {row['status'] for row in table['candidates']} == {'pruned after coarse'}


def test_candidate_config_changes_only_t_weight_and_warmup(tmp_path):
    path = candidate_config(str(tmp_path), Candidate('General', 8.0, 0.5, True))
    assert path == str(tmp_path / 'configs' / 'General_T8_w0.5_warmup.py')
    cfg = Config.fromfile(path)
    assert cfg.model.soft_target.type == 'GeneralSoftTarget'
    assert cfg.model.kd_loss.temperature == 8.0 and cfg.model.kd_loss.loss_weight == 0.5
    hooks = [h['type'] for h in cfg.custom_hooks]
    assert hooks == ['GeneralWeightsHook', 'KDWarmupHook']  # the export hook is dropped
    assert cfg.train_cfg.max_epochs == 30  # the recipe's budget
    assert cfg.default_hooks.checkpoint.save_best is None


def test_unknown_generator_is_refused():
    with pytest.raises(SystemExit):
        recipe_search.parse_args(['--generators', 'Median'])


def test_default_grid_has_every_generator_and_general_weighting():
    args = recipe_search.parse_args([])
    # 'General' is GeneralSoftTarget's default weighting (simplex); the others are named.
    assert args.generators == [
        'Naive',
        'Linear',
        'MinLogit',
        'General',
        'General:closed_form',
        'General:shrinkage',
        'Mean',
    ]
    assert args.temperatures == [1.0, 2.0, 4.0, 8.0] and args.kd_weights == [0.5, 1.0, 2.0]
    assert len(args.final_seeds) >= 5 and not set(args.final_seeds) & {0, 1, 2, 3, 4}


def test_general_weighting_candidate_sets_the_weighting(tmp_path):
    cfg = Config.fromfile(
        candidate_config(str(tmp_path), Candidate('General:shrinkage', 2.0, 1.0, False))
    )
    assert cfg.model.soft_target.type == 'GeneralSoftTarget'
    assert cfg.model.soft_target.weighting == 'shrinkage'
    assert [h['type'] for h in cfg.custom_hooks] == ['GeneralWeightsHook']
