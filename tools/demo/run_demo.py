"""The whole KDCL pipeline in miniature, on real MNIST digits, on CPU (docs/demo.md).

    bash tools/run_demo.sh [--quick] [--out-dir work_dirs/demo] [--seeds 0 1 2] [--overwrite]

Steps, each announced, each run in its own work dir under ``<out-dir>/runs/`` (mmengine logs
there, plus the command's output in ``train.log`` / ``test.log``):

1. MNIST-COCO canvases, generated into ``--data-dir`` unless already there.
2. KDCL pretraining (configs/kdcl/resnet18-w16_mbv2-w0.5_mnist.py) and each student trained
   alone (configs/baselines/*_mnist.py), same data and budget, per seed; test-set top-1.
3. The generator ablation (full mode only): the other four soft targets, on two seeds.
4. Export of the KDCL students (tools/export_students.py).
5. Faster R-CNN-FPN and Semantic FPN on MNIST-COCO from the KDCL ResNet-18 student and from the
   ResNet-18 trained alone; test-set bbox mAP / mIoU.
6. ``report.md``, ``report.json`` and PNG plots (kdcl_mm.demo).

Every training command is the ordinary ``tools/train.py`` / ``tools/test.py`` one; the only
overrides are the seed, data paths, the downstream backbone checkpoint, and (quick mode) the
budgets.
"""
import argparse
import json
import os
import os.path as osp
import platform
import shutil
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Dict, List, Optional

REPO = osp.dirname(osp.dirname(osp.dirname(osp.abspath(__file__))))
sys.path.insert(0, REPO)

KDCL_CONFIG = 'configs/kdcl/resnet18-w16_mbv2-w0.5_mnist.py'
SOLO_CONFIGS = {'resnet18': 'configs/baselines/resnet18-w16_mnist.py',
                'mobilenet_v2': 'configs/baselines/mobilenet_v2-w0.5_mnist.py'}
# One config per generator; the main recipe's generator reuses the main KDCL runs.
GENERATOR_CONFIGS = {
    'Naive': 'configs/kdcl/resnet18-w16_mbv2-w0.5_mnist_naive.py',
    'Linear': 'configs/kdcl/resnet18-w16_mbv2-w0.5_mnist_linear.py',
    'MinLogit': 'configs/kdcl/resnet18-w16_mbv2-w0.5_mnist_minlogit.py',
    'General': 'configs/kdcl/resnet18-w16_mbv2-w0.5_mnist_general.py',
    'Mean': 'configs/kdcl/resnet18-w16_mbv2-w0.5_mnist_mean.py',
}
DOWNSTREAM_STUDENT = 'resnet18'
DOWNSTREAM_CONFIGS = {'detection': 'configs/mmdet/faster-rcnn_r18-w16_fpn_mnist-coco.py',
                      'segmentation': 'configs/mmseg/fpn_r18-w16_mnist-coco.py'}
# What a demo writes into its out-dir besides the report's files (--overwrite deletes exactly
# these and kdcl_mm.demo.report.report_files).
OUTPUTS = ('runs', 'students', 'manifest.json')
CANVAS_SPLITS = ('train', 'val', 'test')


@dataclass
class Budget:
    """Extra ``--cfg-options`` of each kind of run (empty: the configs' own recipe)."""
    classification: List[str] = field(default_factory=list)
    detection: List[str] = field(default_factory=list)
    segmentation: List[str] = field(default_factory=list)


FULL = Budget()
# A smoke test of the chain: every step runs, on budgets far too small to mean anything.
QUICK = Budget(
    classification=['train_cfg.max_epochs=3'],  # the warm-up takes 2
    detection=['train_cfg.max_epochs=1', 'train_dataloader.dataset.indices=16',
               'test_dataloader.dataset.indices=16'],
    segmentation=['train_cfg.max_iters=4', 'test_dataloader.dataset.indices=16'])


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description='KDCL end to end on MNIST, CPU only (docs/demo.md)',
    )
    parser.add_argument('--quick', action='store_true',
                        help='smoke test: 1 seed, 3 epochs, tiny downstream, no ablation; '
                        'numbers are not meaningful')
    parser.add_argument('--out-dir', default='work_dirs/demo',
                        help='where runs and report go (default: work_dirs/demo)')
    parser.add_argument('--seeds', type=int, nargs='+', default=None,
                        help='seeds of KDCL and solo training (default: 0 1 2; quick: 0)')
    parser.add_argument('--ablation-seeds', type=int, nargs='*', default=None,
                        help='seeds of the generator ablation (default: the first two of '
                        '--seeds, to stay within 30 minutes on 2 cores; quick: none)')
    parser.add_argument('--downstream-seeds', type=int, nargs='+', default=None,
                        help='seeds whose ResNet-18 backbones go downstream (default: the '
                        'first of --seeds)')
    parser.add_argument('--data-dir', default=osp.join(REPO, 'data', 'mnist_coco'),
                        help='MNIST-COCO folder, generated there if missing '
                        '(default: data/mnist_coco)')
    parser.add_argument('--jobs', type=int, default=min(2, os.cpu_count() or 1),
                        help='runs at a time (default: 2, or 1 on one core)')
    parser.add_argument('--threads', type=int, default=None,
                        help='torch threads per run (default: cores / jobs)')
    parser.add_argument('--overwrite', action='store_true',
                        help='delete the results of an earlier demo in --out-dir first')
    args = parser.parse_args(argv)
    if args.seeds is None:
        args.seeds = [0] if args.quick else [0, 1, 2]
    if args.ablation_seeds is None:
        args.ablation_seeds = [] if args.quick else args.seeds[:2]
    if args.downstream_seeds is None:
        args.downstream_seeds = args.seeds[:1]
    unknown = sorted(set(args.downstream_seeds) - set(args.seeds))
    if unknown:
        parser.error(f'--downstream-seeds {unknown} are not in --seeds {args.seeds}: the '
                     'downstream runs start from the backbones those seeds trained.')
    if args.jobs < 1 or (args.threads is not None and args.threads < 1):
        parser.error('--jobs and --threads must be at least 1')
    if args.threads is None:
        args.threads = max(1, (os.cpu_count() or 1) // args.jobs)
    args.out_dir, args.data_dir = osp.abspath(args.out_dir), osp.abspath(args.data_dir)
    return args


@dataclass
class Job:
    """One run: train ``config`` into ``runs/<name>/seed<seed>``, then test its last checkpoint."""
    title: str
    name: str
    config: str
    seed: int
    options: List[str]
    record: dict
    train_flags: tuple = ()


class Demo:
    """Runs the steps as subprocesses of the repository's tools, ``--jobs`` at a time."""

    def __init__(self, args):
        self.args = args
        self.budget = QUICK if args.quick else FULL
        self.out = args.out_dir
        self.main = main_generator()
        self.runs: List[dict] = []
        self.steps: List[dict] = []
        self.step_no = 0
        self.num_steps = (2 + len(self.classification_jobs()) + len(args.downstream_seeds) *
                          (1 + len(DOWNSTREAM_CONFIGS) * 2))
        self.lock = threading.Lock()
        self.procs = set()
        self.failed = threading.Event()
        self.started = time.time()

    # ---------------------------------------------------------------- bookkeeping
    def announce(self, what: str) -> float:
        with self.lock:
            self.step_no += 1
            elapsed = (time.time() - self.started) / 60
            print(f'[demo {self.step_no}/{self.num_steps} | {elapsed:5.1f} min] {what}',
                  flush=True)
        return time.time()

    def finish(self, title: str, start: float, cpu: float) -> None:
        wall = time.time() - start
        with self.lock:
            self.steps.append(dict(name=title, wall_s=round(wall, 1), cpu_s=round(cpu, 1)))
            print(f'    finished {title} in {wall:.0f} s (CPU {cpu:.0f} s)', flush=True)

    def run(self, cmd: List[str], log: str) -> float:
        """Run one tool; return its CPU seconds. Any failure stops the demo."""
        os.makedirs(osp.dirname(log), exist_ok=True)
        env = dict(os.environ)
        if self.args.threads:
            env.update(OMP_NUM_THREADS=str(self.args.threads),
                       MKL_NUM_THREADS=str(self.args.threads))
        with open(log, 'w') as f:
            if self.failed.is_set():
                raise SystemExit('demo: stopped after an earlier failure')
            proc = subprocess.Popen([sys.executable, *cmd], cwd=REPO, env=env, stdout=f,
                                    stderr=subprocess.STDOUT)
            with self.lock:
                self.procs.add(proc)
            _, status, usage = os.wait4(proc.pid, 0)  # wait4: this child's own CPU time
            proc.returncode = os.waitstatus_to_exitcode(status)
            with self.lock:
                self.procs.discard(proc)
        if proc.returncode != 0:
            self.stop_all()
            with open(log) as f:
                sys.stderr.write(''.join(f.readlines()[-30:]))
            raise SystemExit(f'demo: `{" ".join(cmd)}` failed (exit {proc.returncode}); '
                             f'full log: {log}')
        return usage.ru_utime + usage.ru_stime

    def stop_all(self) -> None:
        self.failed.set()
        with self.lock:
            for proc in self.procs:
                proc.terminate()

    def in_parallel(self, jobs: List[Job]) -> None:
        with ThreadPoolExecutor(max(1, self.args.jobs)) as pool:
            futures = [pool.submit(self.train_and_test, job) for job in jobs]
            try:
                for future in futures:
                    future.result()
            except BaseException:
                self.stop_all()
                for future in futures:
                    future.cancel()
                raise

    # ---------------------------------------------------------------- steps
    def prepare_out_dir(self) -> None:
        from kdcl_mm.demo.report import report_files  # pulls in torch: not on --help
        outputs = OUTPUTS + tuple(report_files(list(SOLO_CONFIGS)))
        existing = [p for p in outputs if osp.exists(osp.join(self.out, p))]
        if existing and not self.args.overwrite:
            raise SystemExit(
                f'demo: {self.out} already holds the results of a demo ({", ".join(existing)}). '
                'Choose another --out-dir, or pass --overwrite to delete them and start over.')
        for name in existing:
            path = osp.join(self.out, name)
            shutil.rmtree(path) if osp.isdir(path) else os.remove(path)
        os.makedirs(self.out, exist_ok=True)

    def make_data(self) -> None:
        start = self.announce(f'MNIST-COCO canvases in {self.args.data_dir}')
        data, cpu = self.args.data_dir, 0.0
        annotations = [osp.join(data, 'annotations', f'instances_{s}.json') for s in CANVAS_SPLITS]
        if all(osp.isfile(a) for a in annotations):
            print('    found, reused', flush=True)
        elif osp.isdir(data) and os.listdir(data):
            raise SystemExit(f'demo: {data} exists but lacks {", ".join(annotations)}: an '
                             'interrupted generation? Delete it or pass another --data-dir.')
        else:
            cpu = self.run(['tools/dataset_converters/mnist_coco.py', '--out-dir', data,
                            '--no-progress'], osp.join(self.out, 'runs', 'mnist_coco.log'))
        self.finish('MNIST-COCO', start, cpu)

    def train_and_test(self, job: Job) -> None:
        work_dir = osp.join(self.out, 'runs', job.name, f'seed{job.seed}')
        start = self.announce(f'{job.title}: train + test (logs in runs/{job.name}/seed{job.seed})')
        options = [f'randomness.seed={job.seed}', *job.options]
        cpu = self.run(['tools/train.py', job.config, '--work-dir', work_dir, *job.train_flags,
                        '--cfg-options', *options], osp.join(work_dir, 'train.log'))
        cpu += self.run(['tools/test.py', job.config, last_checkpoint(work_dir), '--work-dir',
                         osp.join(work_dir, 'test'), '--out',
                         osp.join(work_dir, 'test_metrics.json'), '--cfg-options', *options],
                        osp.join(work_dir, 'test.log'))
        scalars = find_scalars(work_dir)
        with self.lock:
            self.runs.append(dict(
                job.record, seed=job.seed, work_dir=osp.relpath(work_dir, self.out),
                scalars=scalars and osp.relpath(scalars, self.out),
                test_metrics=osp.relpath(osp.join(work_dir, 'test_metrics.json'), self.out)))
        self.finish(job.title, start, cpu)

    def classification_jobs(self) -> List[Job]:
        """KDCL and solo per seed (seed by seed), then the other generators."""
        a, extra = self.args, self.budget.classification
        jobs = []
        for seed in a.seeds:
            jobs.append(Job(f'KDCL ({self.main}) seed {seed}', f'kdcl_{self.main}', KDCL_CONFIG,
                            seed, extra, dict(kind='kdcl', generator=self.main)))
            jobs += [Job(f'{student} alone, seed {seed}', f'solo_{student}', config, seed, extra,
                         dict(kind='solo', student=student))
                     for student, config in SOLO_CONFIGS.items()]
        for seed in a.ablation_seeds:
            jobs += [Job(f'KDCL ({gen}) seed {seed}', f'kdcl_{gen}', config, seed, extra,
                         dict(kind='kdcl', generator=gen))
                     for gen, config in GENERATOR_CONFIGS.items() if gen != self.main]
        return jobs

    def export(self, seed: int) -> str:
        start = self.announce(f'export the KDCL ({self.main}) students of seed {seed}')
        checkpoint = last_checkpoint(osp.join(self.out, 'runs', f'kdcl_{self.main}', f'seed{seed}'))
        out_dir = osp.join(self.out, 'students', f'kdcl_{self.main}', f'seed{seed}')
        cpu = self.run(['tools/export_students.py', checkpoint, '--out-dir', out_dir],
                       osp.join(out_dir, 'export.log'))
        self.finish(f'export seed {seed}', start, cpu)
        return osp.join(out_dir, f'{DOWNSTREAM_STUDENT}.pth')

    def downstream_jobs(self, seed: int, backbones: Dict[str, str]) -> List[Job]:
        data = self.args.data_dir + '/'
        data_options = {
            'detection': [f'{loader}.dataset.data_root={data}'
                          for loader in ('train_dataloader', 'test_dataloader')] +
                         [f'test_evaluator.ann_file={data}annotations/instances_test.json'],
            'segmentation': [f'{loader}.dataset.data_root={data}'
                             for loader in ('train_dataloader', 'test_dataloader')],
        }
        jobs = []
        for task, config in DOWNSTREAM_CONFIGS.items():
            for arm, checkpoint in backbones.items():
                options = [f'model.backbone.init_cfg.checkpoint={checkpoint}',
                           *data_options[task], *getattr(self.budget, task)]
                jobs.append(Job(f'{task} from the {arm} {DOWNSTREAM_STUDENT}, seed {seed}',
                                f'{task}_{arm}_{DOWNSTREAM_STUDENT}', config, seed, options,
                                dict(kind=task, backbone=arm, student=DOWNSTREAM_STUDENT),
                                train_flags=('--no-validate', )))
        return jobs

    def manifest(self) -> dict:
        return dict(
            mode='quick' if self.args.quick else 'full',
            command=' '.join(['bash tools/run_demo.sh', *sys.argv[1:]]),
            machine=machine(self.load_at_start, self.args),
            recipe=recipe(osp.join(self.out, 'runs', f'kdcl_{self.main}',
                                   f'seed{self.args.seeds[0]}'), self.args),
            students=list(SOLO_CONFIGS),
            main_generator=self.main,
            runs=sorted(self.runs, key=lambda r: (r['kind'], r.get('generator', ''),
                                                  r.get('student', ''), r['seed'])),
            timings=dict(steps=self.steps, wall_s=round(time.time() - self.started, 1),
                         cpu_s=round(sum(s['cpu_s'] for s in self.steps), 1)))

    def __call__(self) -> None:
        a = self.args
        self.prepare_out_dir()
        self.load_at_start = os.getloadavg()
        print(f'demo: {"quick" if a.quick else "full"} mode, {a.jobs} run(s) at a time, '
              f'{a.threads or "default"} torch thread(s) each, into {self.out}', flush=True)
        self.make_data()
        self.in_parallel(self.classification_jobs())
        downstream = []
        for seed in a.downstream_seeds:
            backbones = dict(kdcl=self.export(seed), solo=last_checkpoint(
                osp.join(self.out, 'runs', f'solo_{DOWNSTREAM_STUDENT}', f'seed{seed}')))
            downstream += self.downstream_jobs(seed, backbones)
        self.in_parallel(downstream)

        start = self.announce('report')
        from kdcl_mm.demo import write_report
        manifest = self.manifest()
        with open(osp.join(self.out, 'manifest.json'), 'w') as f:
            json.dump(manifest, f, indent=2)
        paths = write_report(manifest, self.out)
        self.finish('report', start, 0.0)
        print(f'demo finished in {(time.time() - self.started) / 60:.1f} min. Report: '
              f'{paths["markdown"]} (and report.json, plots) in {self.out}', flush=True)


def main_generator() -> str:
    """The generator of the main KDCL recipe, e.g. ``'Mean'`` for ``MeanSoftTarget``."""
    from mmengine.config import Config
    soft_target = Config.fromfile(osp.join(REPO, KDCL_CONFIG)).model.soft_target.type
    return soft_target.split('.')[-1].replace('SoftTarget', '')


def last_checkpoint(work_dir: str) -> str:
    """The checkpoint mmengine's CheckpointHook saved last (it writes its path there)."""
    pointer = osp.join(work_dir, 'last_checkpoint')
    if not osp.isfile(pointer):
        raise SystemExit(f'demo: no {pointer}: training in {work_dir} saved no checkpoint.')
    with open(pointer) as f:
        path = f.read().strip()
    return path if osp.isabs(path) else osp.join(work_dir, osp.basename(path))


def find_scalars(work_dir: str) -> Optional[str]:
    """The training run's ``<timestamp>/vis_data/scalars.json`` (the newest, if several)."""
    found = sorted(
        osp.join(work_dir, d, 'vis_data', 'scalars.json') for d in os.listdir(work_dir)
        if osp.isfile(osp.join(work_dir, d, 'vis_data', 'scalars.json')))
    return found[-1] if found else None


def machine(load_at_start, args) -> dict:
    import torch
    cpu = platform.processor() or platform.machine()
    try:
        with open('/proc/cpuinfo') as f:
            cpu = next(line.split(':', 1)[1].strip() for line in f if line.startswith('model name'))
    except (OSError, StopIteration):
        pass
    cores, load_end = os.cpu_count(), os.getloadavg()
    threads = args.threads or torch.get_num_threads()
    return dict(
        description=f'{cpu}, {cores} CPU cores, {args.jobs} run(s) at a time with {threads} '
        f'torch thread(s) each, no GPU; load average {load_at_start[0]:.1f} at start, '
        f'{load_end[0]:.1f} at end (other work on the machine slows the demo down)',
        cpu=cpu, cores=cores, jobs=args.jobs, torch_threads=threads,
        python=platform.python_version(), torch=torch.__version__,
        load_at_start=load_at_start[0], load_at_end=load_end[0])


def recipe(kdcl_work_dir: str, args) -> dict:
    """The recipe as the main KDCL run actually used it (its dumped, merged config)."""
    from mmengine.config import Config
    dumped = [f for f in os.listdir(kdcl_work_dir) if f.endswith('.py')]
    cfg = Config.fromfile(osp.join(kdcl_work_dir, dumped[0]))
    return dict(
        num_labeled=cfg.train_dataloader.dataset.num_labeled,
        epochs=cfg.train_cfg.max_epochs,
        input_size=cfg.test_pipeline[0]['scale'][0],
        generator=cfg.model.soft_target.type.replace('SoftTarget', ''),
        temperature=cfg.model.kd_loss.temperature,
        kd_weight=cfg.model.kd_loss.loss_weight,
        evaluated_checkpoint='last epoch (no checkpoint selection on val)',
        seeds=args.seeds, ablation_seeds=args.ablation_seeds,
        downstream_seeds=args.downstream_seeds,
        seed_varies='weight init, augmentation and data order (labelled subset fixed)')


def main(argv=None):
    Demo(parse_args(argv))()


if __name__ == '__main__':
    main()
