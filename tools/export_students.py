"""Export the students of a KDCL checkpoint as standalone mmpretrain classifiers.

    python tools/export_students.py work_dirs/r50_mbv2_imagenet/epoch_100.pth \
        --out-dir work_dirs/r50_mbv2_imagenet/students [--students 0 mobilenet_v2] [--overwrite]

Writes <out-dir>/<name>.pth (backbone/neck/head weights) and <name>.py (a test config).
"""

import argparse
import pickle

from kdcl_mm.apis import export_students


def parse_args():
    parser = argparse.ArgumentParser(description='Export KDCL students (kdcl_mm)')
    parser.add_argument('checkpoint', help='a checkpoint saved while training a KDCL config')
    parser.add_argument('--out-dir', required=True, help='folder for <name>.pth and <name>.py')
    parser.add_argument(
        '--students',
        nargs='+',
        metavar='INDEX_OR_NAME',
        help='students to export, by index or name (default: all)',
    )
    parser.add_argument('--overwrite', action='store_true', help='replace existing exports')
    return parser.parse_args()


def main():
    args = parse_args()
    try:
        paths = export_students(args.checkpoint, args.out_dir, args.students, args.overwrite)
    except (
        FileNotFoundError,
        FileExistsError,
        ValueError,
        RuntimeError,
        pickle.UnpicklingError,
    ) as e:
        raise SystemExit(f'error: {e}')
    print('\n'.join(paths))


if __name__ == '__main__':
    main()
