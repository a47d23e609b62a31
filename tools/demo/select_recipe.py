"""Choose the demo's recipe on the VALIDATION split: labelled-set size and soft target.

    python tools/demo/select_recipe.py --out-dir work_dirs/demo_selection \
        [--num-labeled 300 1000] [--seeds 0 1 2] [--jobs 2] [--threads 1]

Trains the solo students and KDCL with each candidate generator for every labelled-set size
and seed (the recipe's configs, only the candidate's fields overridden), then tabulates the
students' val top-1 at the last epoch, the epoch the demo evaluates, and its mean over the
last five epochs (less noisy). Only ``tools/train.py`` runs: the test split is never read.
Finished runs are skipped, so the grid can be extended. The numbers go to docs/demo.md.
"""
import argparse
import itertools
import json
import os
import os.path as osp
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, REPO)

from kdcl_mm.demo.scalars import load_scalars, metric_curve  # noqa: E402
from kdcl_mm.demo.stats import compare, format_stat, summarize  # noqa: E402
# The candidates are variations of the demo's own recipe: the same configs.
from run_demo import KDCL_CONFIG, SOLO_CONFIGS  # noqa: E402  (tools/demo/run_demo.py)

# Candidate soft targets: (config overrides). The export hook is not needed here.
GENERATORS = {
    'Mean T=4': ['model.soft_target.type=MeanSoftTarget', 'model.kd_loss.temperature=4.0'],
    'MinLogit T=2': ['model.soft_target.type=MinLogitSoftTarget', 'model.kd_loss.temperature=2.0'],
}
STUDENTS = tuple(SOLO_CONFIGS)
LAST_K = 5


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--out-dir', default='work_dirs/demo_selection')
    parser.add_argument('--num-labeled', type=int, nargs='+', default=[300, 1000])
    parser.add_argument('--seeds', type=int, nargs='+', default=[0, 1, 2])
    parser.add_argument('--generators', nargs='+', default=list(GENERATORS),
                        choices=list(GENERATORS))
    parser.add_argument('--jobs', type=int, default=1, help='runs in parallel')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch threads per run (OMP_NUM_THREADS); default: torch\'s')
    parser.add_argument('--table-only', action='store_true', help='tabulate finished runs only')
    return parser.parse_args()


def runs(args):
    """(name, config, overrides, num_labeled, seed) of every run of the grid."""
    for num, seed in itertools.product(args.num_labeled, args.seeds):
        data = [f'train_dataloader.dataset.num_labeled={num}', f'randomness.seed={seed}']
        for student, config in SOLO_CONFIGS.items():
            yield f'n{num}/solo_{student}/seed{seed}', config, data, num, seed
        for gen in args.generators:
            slug = gen.replace(' ', '_').replace('=', '')
            yield (f'n{num}/kdcl_{slug}/seed{seed}', KDCL_CONFIG,
                   data + GENERATORS[gen] + ['custom_hooks=[]'], num, seed)


def finished(work_dir):
    return osp.isfile(osp.join(work_dir, 'last_checkpoint'))


def train(out_dir, name, config, overrides, threads):
    work_dir = osp.join(out_dir, name)
    if finished(work_dir):
        return name, 'skipped (done)', 0.0
    os.makedirs(work_dir, exist_ok=True)
    env = dict(os.environ)
    if threads:
        env['OMP_NUM_THREADS'] = str(threads)
    start = time.time()
    with open(osp.join(work_dir, 'train.log'), 'w') as log:
        rc = subprocess.call([sys.executable, 'tools/train.py', config, '--work-dir', work_dir,
                              '--overwrite', '--cfg-options', *overrides], cwd=REPO, env=env,
                             stdout=log, stderr=subprocess.STDOUT)
    return name, 'ok' if rc == 0 else f'FAILED (exit {rc})', time.time() - start


def val_numbers(work_dir, key):
    """(last-epoch val top-1, mean of the last LAST_K epochs) of one run."""
    found = [osp.join(work_dir, d, 'vis_data', 'scalars.json') for d in sorted(os.listdir(work_dir))
             if osp.isfile(osp.join(work_dir, d, 'vis_data', 'scalars.json'))]
    _, values = metric_curve(load_scalars(found[-1]), key)
    return values[-1], sum(values[-LAST_K:]) / len(values[-LAST_K:])


def tabulate(args):
    table = {}
    for name, config, _, num, seed in runs(args):
        work_dir = osp.join(args.out_dir, name)
        if not finished(work_dir):
            continue
        arm = name.split('/')[1]
        for student in STUDENTS:
            key = 'accuracy/top1' if arm.startswith('solo') else f'{student}/top1'
            if arm.startswith('solo') and arm != f'solo_{student}':
                continue
            last, tail = val_numbers(work_dir, key)
            arm_name = 'solo' if arm.startswith('solo') else arm
            for stat, value in (('last', last), (f'last{LAST_K}', tail)):
                table.setdefault(f'n{num}', {}).setdefault(arm_name, {}).setdefault(
                    student, {}).setdefault(stat, {})[seed] = value
    summary, lines = {}, ['| labels | arm | student | val top-1, last epoch | KDCL − solo '
                          f'| higher in | val top-1, mean of last {LAST_K} | KDCL − solo |',
                          '|---|---|---|---|---|---|---|---|']
    for num, arms in table.items():
        for arm, per_student in arms.items():
            for student, stats in per_student.items():
                row = summary.setdefault(num, {}).setdefault(arm, {}).setdefault(student, {})
                cells = []
                for stat in ('last', f'last{LAST_K}'):
                    row[stat] = summarize(stats[stat])
                    cells.append(format_stat(row[stat]))
                    solo = arms.get('solo', {}).get(student, {}).get(stat)
                    if arm != 'solo' and solo:
                        row[f'{stat}_vs_solo'] = compare(stats[stat], solo)
                        c = row[f'{stat}_vs_solo']
                        cells.append(format_stat(c['delta'], signed=True))
                        if stat == 'last':
                            cells.append(f'{c["kdcl_higher_in"]}/{len(c["seeds"])}')
                    else:
                        cells += ['—', '—'] if stat == 'last' else ['—']
                lines.append(f'| {num[1:]} | {arm} | {student} | ' + ' | '.join(cells) + ' |')
    with open(osp.join(args.out_dir, 'val_selection.json'), 'w') as f:
        json.dump(summary, f, indent=2)
    with open(osp.join(args.out_dir, 'val_selection.md'), 'w') as f:
        f.write('\n'.join(lines) + '\n')
    print('\n'.join(lines))


def main():
    args = parse_args()
    args.out_dir = osp.abspath(args.out_dir)
    os.makedirs(args.out_dir, exist_ok=True)
    if not args.table_only:
        grid = list(runs(args))
        print(f'{len(grid)} runs, {args.jobs} at a time', flush=True)
        with ThreadPoolExecutor(args.jobs) as pool:
            futures = [pool.submit(train, args.out_dir, name, config, overrides, args.threads)
                       for name, config, overrides, _, _ in grid]
            for future in futures:
                name, status, seconds = future.result()
                print(f'{name}: {status} ({seconds:.0f} s)', flush=True)
    tabulate(args)


if __name__ == '__main__':
    main()
