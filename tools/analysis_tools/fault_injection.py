"""Fault injection: does the healthy student survive a student that emits NaN?

For every generator of ``kdcl_mm.models.soft_targets.GENERATORS`` the MNIST recipe is trained
in three arms: ``clean``; ``isolated``, where one student (``--faulty-student``, default 0)
emits NaN logits on a fraction ``p`` of the training batches and fault isolation is on (the
default); ``not_isolated``, the same fault with isolation off. The report gives the other
student's test top-1 per arm, the steps that DivergenceGuardHook skipped and whether the run
stopped (its error is an outcome, not a crash). ``--no-guard`` removes the guard from every run,
so that a faulty step is taken and only isolation protects the healthy student.

The faulty batches are ``max(1, round(p * iterations))`` of the run's iterations, drawn with
``--fault-seed``: a short run has few iterations, and p = 0.01 of them would often be none.

    python -m tools.analysis_tools.fault_injection --out-dir work_dirs/fault_injection

(from the repository root, as a module: it imports ``tools.common``, and its runs import this
module; it puts the repository root on the runs' PYTHONPATH).

The fault is :class:`NaNLogitsHook`; any run of tools/train.py gets it from a config like
those written into ``<out-dir>/configs`` (repository root on PYTHONPATH)::

    _base_ = 'configs/kdcl/resnet18-w16_mbv2-w0.5_mnist.py'
    custom_imports = dict(imports=['kdcl_mm', 'tools.analysis_tools.fault_injection'])
    default_hooks = dict(nan_logits=dict(type='NaNLogitsHook', fraction=0.01, isolate=True))
"""

import argparse
import json
import os
import os.path as osp
import re
import sys

import numpy as np
from mmengine.config import Config
from mmengine.hooks import Hook

from kdcl_mm.models.soft_targets import GENERATORS
from kdcl_mm.registry import HOOKS
from kdcl_mm.utils.wrappers import unwrap
from tools.common.mnist_recipes import REPO, generator_configs
from tools.common.report import check_out_dir, md_table, pyplot, write_report
from tools.common.sweep import Job, Launcher, Progress, Sweep, write_config

ARMS = {'clean': None, 'isolated': True, 'not_isolated': False}  # arm -> isolation (None: no fault)
REPORT_FILES = ('report.json', 'report.md')
PLOT = 'fault_injection.png'
IMPORTS = ['kdcl_mm', 'tools.analysis_tools.fault_injection']  # the runs import the hook
HIT = 'NaNLogitsHook: NaN logits on iterations'
SKIPPED = 'DivergenceGuardHook: skipped the optimiser step'


def faulty_iterations(total: int, fraction: float, seed: int) -> list:
    """The 0-based iterations, of ``total``, whose batch gets NaN logits: at least one."""
    count = min(total, max(1, round(fraction * total)))
    return sorted(np.random.default_rng(seed).choice(total, size=count, replace=False).tolist())


@HOOKS.register_module()
class NaNLogitsHook(Hook):
    """Make ``model.students[student]`` emit NaN logits (its gradients NaN too) on
    :func:`faulty_iterations` of the training run; ``isolate`` sets the soft target's fault
    isolation (``BaseSoftTarget.isolate_nonfinite``)."""

    def __init__(self, student: int = 0, fraction: float = 0.01, seed: int = 0, isolate=True):
        self.student, self.fraction, self.seed, self.isolate = student, fraction, seed, isolate
        self.iterations, self.active = set(), False

    def before_train(self, runner) -> None:
        model = unwrap(runner.model)
        model.soft_target.isolate_nonfinite = bool(self.isolate)
        self.iterations = set(faulty_iterations(runner.max_iters, self.fraction, self.seed))
        model.students[self.student].register_forward_hook(self._spoil)
        runner.logger.info(f'{HIT} {sorted(self.iterations)} (student {self.student})')

    def before_train_iter(self, runner, batch_idx: int, data_batch=None) -> None:
        self.active = runner.iter in self.iterations

    def after_train_iter(self, runner, batch_idx: int, data_batch=None, outputs=None) -> None:
        self.active = False

    def _spoil(self, module, args, output):
        # + NaN keeps the graph: the faulty student's gradients are NaN, as in a real fault.
        return output + float('nan') if self.active else None


def fault_config(args, generator: str, arm: str) -> str:
    """The config of ``arm``: the generator's recipe (clean), or one written into
    ``--out-dir`` that inherits it and adds the fault (custom_imports is read when a config file
    is loaded, so ``--cfg-options`` cannot add it)."""
    recipe, student = generator_configs()[generator], args.faulty_student
    if ARMS[arm] is None:
        return osp.join(REPO, recipe)  # absolute: read from any directory
    fault = dict(student=student, fraction=args.fraction, seed=args.fault_seed)
    hook = dict(type='NaNLogitsHook', **fault, isolate=ARMS[arm])
    keys = dict(
        custom_imports=dict(imports=IMPORTS, allow_failed_imports=False),
        default_hooks=dict(nan_logits=hook),
    )
    name = f'{osp.splitext(osp.basename(recipe))[0]}_{arm}_student{student}'
    about = f'Fault-injection arm {arm} (python -m tools.analysis_tools.fault_injection).'
    return write_config(args.out_dir, name, recipe, about, keys)


def run_outcome(train_log: str) -> dict:
    """What a run's train.log says: faulty iterations, skipped steps, the error that stopped it."""
    with open(train_log) as f:
        log = f.read()
    hit = re.search(re.escape(HIT) + r' \[([\d, ]*)\]', log)
    error = re.search(r'DivergenceError: (.*)', log)
    return dict(
        faulty_iterations=[int(i) for i in hit.group(1).split(',') if i.strip()] if hit else [],
        skipped_steps=log.count(SKIPPED),
        stopped=error.group(1) if error else None,
    )


def build_rows(sweep, jobs) -> list:
    """One row per job from its run dir: the first healthy student's test top-1 (None if
    the run stopped)."""
    rows = []
    for job in jobs:
        row = dict(job.record, **run_outcome(sweep.train_log(job)))
        students = Config.fromfile(job.config, import_custom_modules=False).model.students
        healthy = [s['name'] for i, s in enumerate(students) if i != job.record.get('faulty', 0)][0]
        row.update(healthy=healthy, top1=None)
        if row['stopped'] is None:
            with open(sweep.test_metrics(job)) as f:
                row['top1'] = json.load(f)[f'{healthy}/top1']
        rows.append(row)
    return rows


def render(report: dict) -> str:
    head = ['generator', *(f'{arm} top-1' for arm in ARMS), 'skipped steps', 'outcome']
    lines = [f'# Fault injection\n\n`{report["command"]}`\n', *md_table(head, report['table'])]
    return '\n'.join(lines) + f'\n\n![healthy student top-1]({PLOT})\n'


def table(rows: list) -> list:
    cells = []
    for gen in dict.fromkeys(r['generator'] for r in rows):
        arms = {r['arm']: r for r in rows if r['generator'] == gen}
        acc = ['stopped' if arms[a]['stopped'] else f'{arms[a]["top1"]:.1f}' for a in ARMS]
        skipped = ' / '.join(str(arms[a]['skipped_steps']) for a in ARMS)
        stopped = [f'{a} stopped: {arms[a]["stopped"][:80]}' for a in ARMS if arms[a]['stopped']]
        cells.append([gen, *acc, skipped, '; '.join(stopped) or 'all finished'])
    return cells


def plot(rows: list):
    plt = pyplot()
    gens = list(dict.fromkeys(r['generator'] for r in rows))
    fig, ax = plt.subplots(figsize=(8, 4), dpi=100)
    for k, arm in enumerate(ARMS):
        acc = [
            next(r['top1'] or 0.0 for r in rows if r['generator'] == g and r['arm'] == arm)
            for g in gens
        ]
        ax.bar(np.arange(len(gens)) + (k - 1) * 0.27, acc, 0.27, label=arm)
    ax.set(xticks=range(len(gens)), xticklabels=gens, ylabel=f'{rows[0]["healthy"]} test top-1')
    ax.legend(title='arm (0: the run stopped)', loc='lower right')
    return fig


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    parser.add_argument('--out-dir', default='work_dirs/fault_injection')
    parser.add_argument('--generators', nargs='+', default=list(GENERATORS), choices=GENERATORS)
    parser.add_argument(
        '--epochs', type=int, default=2, help='of each run (2: ~3 min a run on 2 cores)'
    )
    parser.add_argument('--fraction', type=float, default=0.01, help='p: batches with NaN')
    parser.add_argument('--fault-seed', type=int, default=0, help='draws the faulty batches')
    parser.add_argument('--seed', type=int, default=0, help='the training seed')
    parser.add_argument('--faulty-student', type=int, default=0, help='index in model.students')
    parser.add_argument(
        '--no-guard', action='store_true', help='every run without DivergenceGuardHook'
    )
    parser.add_argument('--cfg-options', nargs='*', default=[], help='added to every run')
    parser.add_argument('--overwrite', action='store_true', help='replace an earlier report')
    args = parser.parse_args(argv)
    check_out_dir(args.out_dir, [*REPORT_FILES, PLOT], args.overwrite)
    # The runs import NaNLogitsHook from this module (custom_imports).
    os.environ['PYTHONPATH'] = os.pathsep.join(filter(None, [REPO, os.environ.get('PYTHONPATH')]))
    budget = [f'train_cfg.max_epochs={args.epochs}', *args.cfg_options]
    if args.no_guard:
        budget.append('default_hooks.divergence_guard=None')
    jobs = [
        Job(
            f'{gen}, {arm}',
            f'{gen}_{arm}',
            fault_config(args, gen, arm),
            args.seed,
            budget,
            dict(generator=gen, arm=arm, faulty=args.faulty_student, guard=not args.no_guard),
        )
        for gen in args.generators
        for arm in ARMS
    ]
    # DivergenceGuardHook stopping a run is an outcome of the fault, not a crash.
    launcher = Launcher(
        name='fault injection', is_outcome=lambda log: bool(run_outcome(log)['stopped'])
    )
    sweep = Sweep(args.out_dir, launcher, Progress('fault injection'))
    sweep.run(jobs)
    rows = build_rows(sweep, jobs)
    command = 'python -m tools.analysis_tools.fault_injection ' + ' '.join(sys.argv[1:])
    report = dict(command=command.strip(), epochs=args.epochs, fraction=args.fraction, rows=rows)
    report['table'] = table(rows)
    paths = write_report(
        args.out_dir,
        REPORT_FILES,
        report,
        render(report),
        {PLOT: plot(rows)},
        overwrite=args.overwrite,
    )
    print('\n'.join(f'wrote {path}' for path in paths.values()))


if __name__ == '__main__':
    main()
