"""What the demo's tests share: writing the files runs leave behind, a synthetic demo (a
manifest over hand-written run outputs with known numbers), and checks of a report's files."""

import json
import os
import os.path as osp

import matplotlib.image

PNG_SIGNATURE = b'\x89PNG\r\n\x1a\n'
STUDENTS = ['resnet18', 'mobilenet_v2']


def write_lines(path, records):
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        f.write('\n'.join(json.dumps(r) for r in records) + '\n')


def write_json(path, obj):
    os.makedirs(osp.dirname(path), exist_ok=True)
    with open(path, 'w') as f:
        json.dump(obj, f)


def assert_tables_well_formed(markdown):
    """Every markdown table: a header, a separator of as many columns, rows of as many cells."""
    tables, current = [], []
    for line in markdown.split('\n') + ['']:
        if line.startswith('|'):
            current.append(line)
        elif current:
            tables.append(current)
            current = []
    assert tables
    for table in tables:
        widths = {line.count('|') for line in table}
        assert len(widths) == 1, table
        assert set(table[1].replace('|', '').replace('-', '')) == set(), table
    return tables


def assert_png(path):
    with open(path, 'rb') as f:
        assert f.read(8) == PNG_SIGNATURE
    height, width = matplotlib.image.imread(path).shape[:2]
    assert height > 100 and width > 100


# Per seed: solo test top-1, KDCL (Mean) test top-1, and downstream numbers.
SOLO = {'resnet18': {0: 90.0, 1: 92.0}, 'mobilenet_v2': {0: 85.0, 1: 88.0}}
MEAN = {
    'resnet18': {0: 91.0, 1: 94.0},
    'mobilenet_v2': {0: 84.0, 1: 87.0},
    'ensemble': {0: 93.0, 1: 95.0},
}
NAIVE = {'resnet18': {0: 89.0}, 'mobilenet_v2': {0: 86.0}, 'ensemble': {0: 90.0}}
# Downstream, student -> backbone -> seed -> value.
MAP = {  # COCO metric: fractions
    'resnet18': {'kdcl': {0: 0.25, 1: 0.31}, 'solo': {0: 0.20, 1: 0.32}},
    'mobilenet_v2': {'kdcl': {0: 0.12, 1: 0.15}, 'solo': {0: 0.10, 1: 0.12}},
}
MIOU = {  # mmseg metric: percent
    'resnet18': {'kdcl': {0: 40.0, 1: 44.0}, 'solo': {0: 30.0, 1: 34.0}},
    'mobilenet_v2': {'kdcl': {0: 27.0, 1: 29.0}, 'solo': {0: 27.0, 1: 30.0}},
}


def val_records(final):
    """Three epochs of validation climbing to ``final`` for every key in it."""
    return [
        {k: v - 10.0 * (3 - epoch) for k, v in final.items()} | {'step': epoch}
        for epoch in (1, 2, 3)
    ]


def make_synthetic_demo(root):
    """Run outputs under ``root`` and the manifest that lists them: ``(root, manifest)``."""
    runs = []

    def add(name, seed, metrics, scalars=None, **run):
        work = f'runs/{name}/seed{seed}'
        write_json(osp.join(root, work, 'test_metrics.json'), metrics)
        if scalars is not None:
            write_lines(osp.join(root, work, '20260101_000000/vis_data/scalars.json'), scalars)
        runs.append(
            dict(
                run,
                seed=seed,
                test_metrics=f'{work}/test_metrics.json',
                scalars=scalars and f'{work}/20260101_000000/vis_data/scalars.json',
            )
        )

    for gen, table in (('Mean', MEAN), ('Naive', NAIVE)):
        for seed in table['resnet18']:
            metrics = {f'{k}/top1': v[seed] for k, v in table.items()}
            add(f'kdcl_{gen}', seed, metrics, val_records(metrics), kind='kdcl', generator=gen)
    for student, per_seed in SOLO.items():
        for seed, acc in per_seed.items():
            metrics = {'accuracy/top1': acc}
            add(
                f'solo_{student}', seed, metrics, val_records(metrics), kind='solo', student=student
            )
    for student in STUDENTS:
        for arm in ('kdcl', 'solo'):
            for seed in (0, 1):
                add(
                    f'detection_{arm}_{student}',
                    seed,
                    {'coco/bbox_mAP': MAP[student][arm][seed], 'coco/bbox_AP50': 0.5},
                    kind='detection',
                    backbone=arm,
                    student=student,
                )
                add(
                    f'segmentation_{arm}_{student}',
                    seed,
                    {'mIoU': MIOU[student][arm][seed], 'aAcc': 90.0},
                    kind='segmentation',
                    backbone=arm,
                    student=student,
                )
    manifest = dict(
        mode='full',
        command='bash tools/run_demo.sh',
        students=STUDENTS,
        main_generator='Mean',
        runs=runs,
        recipe=dict(num_labeled=300, epochs=3),
        machine=dict(description='test machine'),
        timings=dict(steps=[dict(name='a', wall_s=2.0, cpu_s=3.0)], wall_s=2.0, cpu_s=3.0),
    )
    return root, manifest
