"""The demo's chain of runs (docs/demo.md, "What it runs"): MNIST-COCO, KDCL and each student
alone per seed, the generator ablation, export, downstream from both arms, then the report
(:mod:`tools.demo.report_build` reads the runs, :mod:`tools.demo.report_render` renders them,
:func:`tools.common.report.write_report` writes them). Each run has its own work dir under
``<out-dir>/runs/``, with the tool's output in ``train.log`` / ``test.log``. :func:`report_only`
writes the report of an earlier demo's runs again (``--report-only``).
"""

import json
import os
import os.path as osp
import sys
import time
from typing import Dict, List, Optional, Sequence

from kdcl_mm.utils.overwrite_guard import refuse_overwrite, remove_paths
from tools.common.machine import describe_machine
from tools.common.report import write_report
from tools.common.scalars import find_scalars
from tools.common.sweep import Job, Launcher, Progress, Sweep, last_checkpoint, run_dir, solo_job
from tools.dataset_converters.mnist_coco import CANVAS_SPLITS

from .settings import (
    DOWNSTREAM_CONFIGS,
    DOWNSTREAM_TASKS,
    KDCL_CONFIG,
    MANIFEST,
    MODES,
    OUTPUTS,
    REPO,
    REPORT_FILES,
    SOLO_CONFIGS,
    generator_configs,
    generator_name,
    report_files,
)

# The manifest lists its runs sorted by these fields.
RUN_ORDER = ('kind', 'generator', 'student', 'backbone', 'seed')


class Demo:
    """Runs the steps as subprocesses of the repository's tools, ``--jobs`` at a time."""

    def __init__(self, args):
        self.args = args
        self.budget = MODES[args.mode].budget
        self.out = args.out_dir
        self.main = main_generator()
        self.progress = Progress('demo', plan=self.plan())
        self.launcher = Launcher(args.jobs, args.threads, name='demo')
        self.sweep = Sweep(self.out, self.launcher, self.progress)
        self.runs: List[dict] = []

    def plan(self) -> List[str]:
        """The kind of each step, in order: what :class:`Progress` counts and estimates by."""
        kinds = ['MNIST-COCO'] + [job.name for job in self.classification_jobs()]
        for seed in self.args.downstream_seeds:
            kinds.append('export')
            for student in self.args.downstream_students:
                # Only the names are read: the checkpoints are exported later.
                jobs = self.downstream_jobs(seed, student, dict(kdcl='', solo=''))
                kinds += [job.name for job in jobs]
        return kinds + ['report']

    # ---------------------------------------------------------------- steps
    def prepare_out_dir(self) -> None:
        """Refuse or remove an earlier demo's results; with ``--resume`` its runs stay (the
        sweep skips those that finished) and only its report is refused or, with
        ``--overwrite``, replaced once the new one is built."""
        reports = [osp.join(self.out, p) for p in report_files(list(SOLO_CONFIGS))]
        if self.args.resume:
            self.replacing = earlier_results(self.args, reports, 'a report')
        else:
            paths = [osp.join(self.out, p) for p in OUTPUTS] + reports
            fix = 'pass --overwrite to replace them, --resume to go on with them, or choose '
            fix += 'another --out-dir'
            remove_paths(earlier_results(self.args, paths, 'the results of a demo', fix))
            self.replacing = []
        os.makedirs(self.out, exist_ok=True)

    def make_data(self) -> None:
        data = self.args.data_dir
        annotations = [osp.join(data, 'annotations', f'instances_{s}.json') for s in CANVAS_SPLITS]
        with self.progress.step(f'MNIST-COCO canvases in {data}', 'MNIST-COCO') as cpu:
            if all(osp.isfile(a) for a in annotations):
                print('    found, reused', flush=True)
            elif osp.isdir(data) and os.listdir(data):
                raise SystemExit(
                    f'demo: {data} exists but lacks {", ".join(annotations)}: an '
                    'interrupted generation? Delete it or pass another --data-dir.'
                )
            else:
                cmd = ['tools/dataset_converters/mnist_coco.py', '--out-dir', data, '--no-progress']
                cpu.append(self.launcher.run(cmd, osp.join(self.out, 'runs', 'mnist_coco.log')))

    def run(self, jobs: List[Job]) -> None:
        """Train and test ``jobs``; the manifest records each run's files."""
        self.sweep.run(jobs)
        for job in jobs:
            work_dir = self.sweep.work_dir(job)
            scalars = find_scalars(work_dir)
            self.runs.append(
                dict(
                    job.record,
                    seed=job.seed,
                    work_dir=osp.relpath(work_dir, self.out),
                    scalars=scalars and osp.relpath(scalars, self.out),
                    test_metrics=osp.relpath(self.sweep.test_metrics(job), self.out),
                )
            )

    def classification_jobs(self) -> List[Job]:
        """KDCL and solo per seed (seed by seed), then the other generators."""
        extra, configs = self.budget.classification, dict(generator_configs())
        configs[self.main] = KDCL_CONFIG  # the recipe itself, not its generator's variant

        def kdcl(gen: str, seed: int) -> Job:
            record = dict(kind='kdcl', generator=gen)
            return Job(
                f'KDCL ({gen}) seed {seed}', f'kdcl_{gen}', configs[gen], seed, extra, record
            )

        jobs = []
        for seed in self.args.seeds:
            jobs += [kdcl(self.main, seed)] + [solo_job(s, seed, extra) for s in SOLO_CONFIGS]
        others = [gen for gen in configs if gen != self.main]
        return jobs + [kdcl(gen, seed) for seed in self.args.ablation_seeds for gen in others]

    def export(self, seed: int) -> Dict[str, str]:
        """Export the KDCL students of ``seed``; their ``<name>.pth`` by student name."""
        out_dir = osp.join(self.out, 'students', f'kdcl_{self.main}', f'seed{seed}')
        what = f'export the KDCL ({self.main}) students of seed {seed}'
        with self.progress.step(what, f'export seed {seed}', kind='export') as cpu:
            checkpoint = last_checkpoint(run_dir(self.out, f'kdcl_{self.main}', seed))
            cmd = ['tools/export_students.py', checkpoint, '--out-dir', out_dir]
            if self.args.resume:  # the same checkpoint's export again (one may be partial)
                cmd.append('--overwrite')
            cpu.append(self.launcher.run(cmd, osp.join(out_dir, 'export.log')))
        return {student: osp.join(out_dir, f'{student}.pth') for student in SOLO_CONFIGS}

    def downstream_jobs(self, seed: int, student: str, backbones: Dict[str, str]) -> List[Job]:
        data = self.args.data_dir + '/'
        roots = [f'{loader}_dataloader.dataset.data_root={data}' for loader in ('train', 'test')]
        ann_file = f'test_evaluator.ann_file={data}annotations/instances_test.json'
        data_options = dict(detection=[*roots, ann_file], segmentation=roots)
        jobs = []
        for task in DOWNSTREAM_TASKS:
            for arm, checkpoint in backbones.items():
                options = [f'model.backbone.init_cfg.checkpoint={checkpoint}', *data_options[task]]
                options += getattr(self.budget, task)
                title = f'{task} from the {arm} {student}, seed {seed}'
                record = dict(kind=task, backbone=arm, student=student)
                config, name = DOWNSTREAM_CONFIGS[student][task], f'{task}_{arm}_{student}'
                jobs.append(Job(title, name, config, seed, options, record, ('--no-validate',)))
        return jobs

    def manifest(self) -> dict:
        a = self.args
        return dict(
            mode=a.mode,
            command=' '.join(['bash tools/run_demo.sh', *sys.argv[1:]]),
            machine=machine(self.load_at_start, a),
            recipe=recipe(run_dir(self.out, f'kdcl_{self.main}', a.seeds[0]), a),
            students=list(SOLO_CONFIGS),
            main_generator=self.main,
            runs=sorted(self.runs, key=lambda r: [r.get(k, '') for k in RUN_ORDER]),
            timings=dict(
                steps=self.progress.steps,
                wall_s=round(time.time() - self.progress.started, 1),
                cpu_s=round(sum(s['cpu_s'] for s in self.progress.steps), 1),
            ),
        )

    def __call__(self) -> None:
        a = self.args
        self.prepare_out_dir()
        self.load_at_start = os.getloadavg()
        print(
            f'demo: {a.mode} mode, {a.jobs} run(s) at a time, '
            f'{a.threads or "default"} torch thread(s) each, into {self.out}',
            flush=True,
        )
        self.make_data()
        self.run(self.classification_jobs())
        downstream = []
        for seed in a.downstream_seeds:
            exported = self.export(seed)
            for student in a.downstream_students:
                solo = last_checkpoint(run_dir(self.out, f'solo_{student}', seed))
                downstream += self.downstream_jobs(
                    seed, student, dict(kdcl=exported[student], solo=solo)
                )
        self.run(downstream)

        with self.progress.step('report', 'report'):
            manifest = self.manifest()
            with open(osp.join(self.out, MANIFEST), 'w') as f:
                json.dump(manifest, f, indent=2)
            paths = write_demo_report(self.out, manifest, self.replacing)
        print(
            f'demo finished in {(time.time() - self.progress.started) / 60:.1f} min. Report: '
            f'{paths["markdown"]} (and report.json, plots) in {self.out}',
            flush=True,
        )


def earlier_results(args, paths: List[str], what: str, fix: Optional[str] = None) -> List[str]:
    """Those of ``paths`` that exist, which ``args.overwrite`` allows replacing
    (:func:`~kdcl_mm.utils.overwrite_guard.refuse_overwrite`'s rule); otherwise stops, naming
    them and the fix (make's own under make, else ``fix`` or the guard's)."""
    fix = getattr(args, 'overwrite_fix', None) or fix
    try:
        return refuse_overwrite(paths, args.overwrite, fix=fix)
    except FileExistsError as err:
        raise SystemExit(f'demo: {args.out_dir} already holds {what}: {err}')


def write_demo_report(
    out_dir: str, manifest: dict, replacing: Sequence[str] = ()
) -> Dict[str, str]:
    """Build the report of ``manifest``'s runs (paths relative to ``out_dir``), render it and
    write it into ``out_dir`` after deleting ``replacing``; the paths written."""
    from .report_build import build  # matplotlib: only when a report is written
    from .report_render import render

    report, figure_data = build(manifest, out_dir)
    markdown, figures = render(report, figure_data)
    # Only now: a report that fails to build leaves the earlier one in place.
    remove_paths(replacing)
    return write_report(out_dir, REPORT_FILES, report, markdown, figures)


def report_only(args) -> None:
    """``--report-only``: the report of the demo in ``args.out_dir`` rebuilt from its manifest
    and runs, with this checkout's report code; nothing is trained. An earlier report (every
    file a report may write, so that no stale figure survives) is replaced only with
    ``--overwrite``."""
    out = args.out_dir
    path = osp.join(out, MANIFEST)
    if not osp.isfile(path):
        raise SystemExit(
            f'demo: --report-only needs {path}, which a demo writes once its runs are done; '
            f'{out} holds none (run the demo first, or pass its --out-dir).'
        )
    with open(path) as f:
        manifest = json.load(f)
    paths = [osp.join(out, p) for p in report_files(manifest['students'])]
    replacing = earlier_results(args, paths, 'a report')
    written = write_demo_report(out, manifest, replacing)
    print(
        f'demo: report of the {manifest["mode"]} demo in {out} rebuilt from its runs (nothing '
        f'trained): {written["markdown"]} (and report.json, plots)',
        flush=True,
    )


def main_generator() -> str:
    """The generator of the main KDCL recipe, e.g. ``'Linear'`` for ``LinearSoftTarget``."""
    from mmengine.config import Config

    return generator_name(Config.fromfile(osp.join(REPO, KDCL_CONFIG)).model.soft_target.type)


def machine(load_at_start, args) -> dict:
    """:func:`tools.common.machine.describe_machine`, with how the demo used it."""
    info = describe_machine(args.threads)
    load_end = os.getloadavg()
    gpu = f'GPU {info["gpu"]} (unused)' if info.get('gpu') else 'no GPU'
    return dict(
        info,
        description=f'{info["cpu"]}, {info["cores"]} CPU cores, {args.jobs} run(s) at a time '
        f'with {info["torch_threads"]} torch thread(s) each, {gpu}; load average '
        f'{load_at_start[0]:.1f} at start, {load_end[0]:.1f} at end (other work on the machine '
        'slows the demo down)',
        jobs=args.jobs,
        load_at_start=load_at_start[0],
        load_at_end=load_end[0],
    )


def recipe(kdcl_work_dir: str, args) -> dict:
    """The recipe as the main KDCL run actually used it (its dumped, merged config)."""
    from mmengine.config import Config

    dumped = [f for f in os.listdir(kdcl_work_dir) if f.endswith('.py')]
    cfg = Config.fromfile(osp.join(kdcl_work_dir, dumped[0]))
    return dict(
        num_labeled=cfg.train_dataloader.dataset.num_labeled,
        epochs=cfg.train_cfg.max_epochs,
        input_size=cfg.test_pipeline[0]['scale'][0],
        generator=generator_name(cfg.model.soft_target.type),
        temperature=cfg.model.kd_loss.temperature,
        kd_weight=cfg.model.kd_loss.loss_weight,
        evaluated_checkpoint='last epoch (no checkpoint selection on val)',
        seeds=args.seeds,
        ablation_seeds=args.ablation_seeds,
        downstream_seeds=args.downstream_seeds,
        downstream_students=list(args.downstream_students),
        seed_varies='weight init, augmentation and data order (labelled subset fixed)',
    )
