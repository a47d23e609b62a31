"""Search the demo's KDCL recipe on the VALIDATION split only (docs/demo.md).

    python -m tools.demo.recipe_search --out-dir work_dirs/recipe_search --jobs 2 --threads 1

Candidates vary the soft target (generator), the temperature T, the KD weight λ and a linear
KD warm-up (KDWarmupHook over the first 5 epochs); everything else is the demo's recipe
(configs/kdcl/resnet18-w16_mbv2-w0.5_mnist*.py: 300 labels, 30 epochs, same data), so every
arm has the same budget. Pruned in three stages, each on val:

1. ``coarse``: every generator × T, λ = 1, no warm-up, on ``--coarse-seeds`` (2 seeds);
2. ``refine``: the ``--refine-top`` best (generator, T) × λ × warm-up on/off, same seeds;
3. ``final``: the ``--final-top`` best candidates so far on ``--final-seeds`` (5 seeds).

A candidate's score is the smaller, over the two students, mean paired gain over the
students trained alone (val top-1, mean of the last 5 epochs): the search looks for a recipe
where every student gains. Every candidate is in the table (``val_table.md`` /
``val_table.json``), pruned or not. Where General ran with several weightings (``General``
is its default, ``General:<weighting>`` the others), the table compares them too, with a
figure of their weights (``general_weighting.png``). Only ``tools/train.py`` runs, with
validation: the test split is never read. Runs are a :class:`~tools.common.sweep.Sweep`: those
whose work dir holds a last checkpoint are skipped, so an interrupted search resumes, and a
grid can be extended.

General's weightings alone, on the General recipe's T and λ (docs/demo.md)::

    python -m tools.demo.recipe_search --out-dir work_dirs/general_weighting --stages coarse \
        --generators General:closed_form General:simplex General:shrinkage \
        --temperatures 4 --kd-weights 1 --coarse-seeds 0 1 2 3 4
"""

import argparse
import os
import os.path as osp
from dataclasses import asdict, dataclass
from typing import Dict, List, Optional, Sequence, Tuple

from tools.common.report import write_report
from tools.common.stats import summarize
from tools.common.sweep import Job, Launcher, Progress, Sweep, run_dir, solo_job, write_config

from .recipe_table import candidate_row, figure_data, rank, render_markdown, solo_numbers
from .settings import SOLO_CONFIGS, VAL_TABLE_FILES, default_weighting, generator_configs

STAGES = ('coarse', 'refine', 'final')
WARMUP_EPOCHS = 5
STUDENTS = tuple(SOLO_CONFIGS)


@dataclass(frozen=True)
class Candidate:
    generator: str  # a generator's short name, or 'General:<weighting>'
    temperature: float
    kd_weight: float
    warmup: bool

    @property
    def name(self) -> str:
        return (
            f'{self.generator.replace(":", "-")}_T{self.temperature:g}_'
            f'w{self.kd_weight:g}_{"warmup" if self.warmup else "nowarmup"}'
        )

    @property
    def label(self) -> str:
        return f'{self.generator} T={self.temperature:g} λ={self.kd_weight:g}' + (
            ' +warm-up' if self.warmup else ''
        )

    @property
    def weighting(self) -> Optional[str]:
        """GeneralSoftTarget's weighting of a General candidate (None for other generators)."""
        generator, _, weighting = self.generator.partition(':')
        return (weighting or default_weighting()) if generator == 'General' else None

    def as_dict(self) -> dict:
        return dict(asdict(self), name=self.name, label=self.label)


def candidate_config(out_dir: str, candidate: Candidate) -> str:
    """Write the candidate's config into ``out_dir`` (its path): the generator's recipe config
    with only T, λ and the warm-up changed. The last epoch is what counts: no val-selected
    checkpoint, no exported students."""
    generator, _, weighting = candidate.generator.partition(':')
    model = dict(kd_loss=dict(temperature=candidate.temperature, loss_weight=candidate.kd_weight))
    if weighting:  # GeneralSoftTarget's weighting variant
        model['soft_target'] = dict(weighting=weighting)
    keys = dict(model=model, default_hooks=dict(checkpoint=dict(save_best=None, rule=None)))
    hooks = "custom_hooks = [h for h in _base_.custom_hooks if h['type'] != 'ExportStudentsHook']"
    if candidate.warmup:
        hooks += f" + [dict(type='KDWarmupHook', length={WARMUP_EPOCHS})]"
    about = f'Recipe-search candidate {candidate.label} (tools/demo/recipe_search.py).'
    recipe = generator_configs()[generator]
    return write_config(out_dir, candidate.name, recipe, about, keys, [hooks])


class Search:
    """The stages, the runs they need, and the table."""

    def __init__(self, args):
        self.args, self.out = args, args.out_dir
        launcher = Launcher(args.jobs, args.threads, name='recipe search')
        self.sweep = Sweep(self.out, launcher, Progress('recipe search'))

    # ---------------------------------------------------------------- runs
    def dirs(self, name: str, seeds: Sequence[int]) -> Dict[int, str]:
        return {seed: run_dir(self.out, name, seed) for seed in seeds}

    def ensure(self, candidates: Sequence[Candidate], seeds: Sequence[int]) -> None:
        """Train (no test: val only) every missing run of ``candidates`` and the solo students
        on ``seeds``."""
        jobs = [solo_job(s, seed, test=False) for seed in seeds for s in STUDENTS]
        jobs += [
            Job(f'{c.label}, seed {seed}', c.name, candidate_config(self.out, c), seed, test=False)
            for c in candidates
            for seed in seeds
        ]
        self.sweep.run(jobs, launch=not self.args.table_only)

    def solo(self, seeds: Sequence[int]) -> Dict[str, dict]:
        return solo_numbers({s: self.dirs(f'solo_{s}', seeds) for s in STUDENTS})

    def rows(self, candidates: Sequence[Candidate], seeds: Sequence[int]) -> List[dict]:
        solo = self.solo(seeds)
        return [
            candidate_row(c, self.dirs(c.name, seeds), solo, list(STUDENTS)) for c in candidates
        ]

    # ---------------------------------------------------------------- stages
    def coarse(self) -> List[Candidate]:
        a = self.args
        return [Candidate(g, t, 1.0, False) for g in a.generators for t in a.temperatures]

    def refine(self, coarse_ranked: List[dict]) -> List[Candidate]:
        best = coarse_ranked[: self.args.refine_top]
        return [
            Candidate(r['generator'], r['temperature'], w, warm)
            for r in best
            for w in self.args.kd_weights
            for warm in (False, True)
        ]

    def __call__(self) -> dict:
        a = self.args
        pool: Dict[str, Tuple[Candidate, str]] = {}  # name -> (candidate, the stage adding it)

        def stage(candidates: List[Candidate], name: str) -> List[dict]:
            """Add ``candidates`` to the pool; every candidate's rows on the coarse seeds."""
            for c in candidates:
                pool.setdefault(c.name, (c, name))
            everyone = [c for c, _ in pool.values()]
            self.ensure(everyone, a.coarse_seeds)
            return self.rows(everyone, a.coarse_seeds)

        rows = stage(self.coarse(), 'coarse')
        if {'refine', 'final'} & set(a.stages):
            rows = stage(self.refine(rank(rows)), 'refine')
        ranked = rank(rows)
        top = ranked[: a.final_top] if 'final' in a.stages else []
        finalists = [pool[r['name']][0] for r in top]
        if finalists:
            self.ensure(finalists, a.final_seeds)
        return self.table(pool, rows, ranked, finalists)

    def table(self, pool, rows, ranked, finalists) -> dict:
        """Every candidate's row, finalists first (on the final seeds), then by rank."""
        a = self.args
        final = {r['name']: r for r in self.rows(finalists, a.final_seeds)}
        coarse = {r['name']: r for r in rows}
        order = [r['name'] for r in ranked]

        def position(name):
            return (name not in final, order.index(name) if name in order else len(pool), name)

        table_rows = []
        for name in sorted(pool, key=position):
            row, stage = final.get(name) or coarse[name], pool[name][1]
            row['stage'] = 'final' if name in final else stage
            row['status'] = (
                'finalist'
                if name in final
                else 'not run'
                if row['score'] is None
                else f'pruned after {stage}'
            )
            table_rows.append(row)
        best = rank(list(final.values()))[:1]
        winner = best[0] if best and len(best[0]['seeds']) == len(a.final_seeds) else None
        if winner:
            winner['status'] = 'winner'
        solo_seeds = a.final_seeds if finalists else a.coarse_seeds
        solo = self.solo(solo_seeds)
        return dict(
            split='val',
            metric='top-1 (%), mean of the last 5 epochs (and the last epoch)',
            students=list(STUDENTS),
            coarse_seeds=a.coarse_seeds,
            final_seeds=a.final_seeds,
            solo_seeds=solo_seeds,
            stages_run=list(a.stages),
            warmup_epochs=WARMUP_EPOCHS,
            solo={s: {stat: summarize(v) for stat, v in solo[s].items()} for s in STUDENTS},
            candidates=table_rows,
            winner=winner and winner['label'],
            partial=a.partial_note,
        )

    def write(self, table: dict) -> None:
        from .plots import draw  # matplotlib, only here

        markdown = render_markdown(table)
        # The table indexes the runs, which are kept: each call of the search rebuilds it.
        figures = draw(figure_data(table, self.out))
        write_report(self.out, VAL_TABLE_FILES, table, markdown, figures, overwrite=True)
        print(markdown)


def default_generators() -> List[str]:
    """Every generator of the ablation, and GeneralSoftTarget's other weightings as
    ``General:<weighting>`` ('General' alone is its default weighting)."""
    from kdcl_mm.models.soft_targets import GENERATORS, WEIGHTINGS

    names = list(GENERATORS)
    at = names.index('General') + 1
    others = [f'General:{w}' for w in WEIGHTINGS if w != default_weighting()]
    return names[:at] + others + names[at:]


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument('--out-dir', default='work_dirs/recipe_search')
    parser.add_argument(
        '--generators',
        nargs='+',
        default=None,
        help='generators of the coarse stage (the names of kdcl_mm.models.soft_targets.GENERATORS)'
        ', or General:<weighting> for a GeneralSoftTarget weighting (default: all, with every '
        'weighting)',
    )
    parser.add_argument('--temperatures', type=float, nargs='+', default=[1.0, 2.0, 4.0, 8.0])
    parser.add_argument('--kd-weights', type=float, nargs='+', default=[0.5, 1.0, 2.0])
    parser.add_argument('--coarse-seeds', type=int, nargs='+', default=[10, 11])
    parser.add_argument('--final-seeds', type=int, nargs='+', default=[10, 11, 12, 13, 14])
    parser.add_argument('--refine-top', type=int, default=3)
    parser.add_argument('--final-top', type=int, default=4)
    parser.add_argument(
        '--stages',
        nargs='+',
        default=list(STAGES),
        choices=STAGES,
        help='stop after coarse (or refine) to spend less; resumable',
    )
    parser.add_argument('--jobs', type=int, default=2, help='runs at a time (default: 2)')
    parser.add_argument('--threads', type=int, default=1, help='torch threads per run')
    parser.add_argument('--table-only', action='store_true', help='tabulate finished runs only')
    parser.add_argument(
        '--partial-note',
        default=None,
        help='a note printed under the table (e.g. which part of the grid ran)',
    )
    args = parser.parse_args(argv)
    if args.generators is None:
        args.generators = default_generators()
    known = default_generators() + [f'General:{default_weighting()}']  # its default, by name too
    for gen in args.generators:
        if gen not in known:
            parser.error(f'--generators: {gen!r} is not one of {known}')
    args.out_dir = osp.abspath(args.out_dir)
    return args


def main(argv=None):
    args = parse_args(argv)
    os.makedirs(args.out_dir, exist_ok=True)
    search = Search(args)
    search.write(search())


if __name__ == '__main__':
    main()
