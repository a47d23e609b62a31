"""Generate MNIST-COCO (real MNIST digits on textured canvases) for mmdet / mmseg.

    python tools/dataset_converters/mnist_coco.py --out-dir data/mnist_coco
"""
import argparse

from kdcl_mm.datasets.mnist_coco import generate_mnist_coco


def parse_args():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument('--out-dir', default='data/mnist_coco')
    parser.add_argument('--num-train', type=int, default=600)
    parser.add_argument('--num-val', type=int, default=150)
    parser.add_argument('--num-test', type=int, default=150)
    parser.add_argument('--canvas-size', type=int, default=128)
    parser.add_argument('--digits-per-canvas', type=int, nargs=2, default=(2, 5),
                        metavar=('MIN', 'MAX'))
    parser.add_argument('--scale', type=int, nargs=2, default=(20, 48), metavar=('MIN', 'MAX'),
                        help='side of a pasted digit in pixels')
    parser.add_argument('--max-overlap', type=float, default=0.3)
    parser.add_argument('--seed', type=int, default=0, help='seed of the canvases')
    parser.add_argument('--split-seed', type=int, default=0,
                        help='seed of the digit splits; keep it equal to the classification one')
    parser.add_argument('--overwrite', action='store_true',
                        help='replace images/, annotations/ and seg_maps/ in a non-empty out-dir')
    parser.add_argument('--no-progress', action='store_true')
    return parser.parse_args()


def main():
    args = parse_args()
    written = generate_mnist_coco(
        args.out_dir, num_train=args.num_train, num_val=args.num_val, num_test=args.num_test,
        canvas_size=args.canvas_size, digits_per_canvas=tuple(args.digits_per_canvas),
        scale=tuple(args.scale), max_overlap=args.max_overlap, seed=args.seed,
        split_seed=args.split_seed, overwrite=args.overwrite, progress=not args.no_progress)
    for split, paths in written.items():
        print(f'{split}: ' + ', '.join(f'{key}={path}' for key, path in paths.items()))


if __name__ == '__main__':
    main()
