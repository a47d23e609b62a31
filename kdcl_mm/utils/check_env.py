"""``python -m kdcl_mm.utils.check_env``: verify the stack kdcl_mm needs, with fixes."""
import importlib
import sys

SUPPORTED = {
    'torch': '2.12.', 'torchvision': '0.27.', 'mmengine': '0.10.7', 'mmcv': '2.1.0',
    'mmpretrain': '1.2.0', 'mmdet': '3.3.0', 'mmseg': '1.2.2',
}


def check() -> list:
    problems = []
    for module, prefix in SUPPORTED.items():
        try:
            version = importlib.import_module(module).__version__
        except ImportError as e:
            problems.append(f'{module}: not importable ({e}). Fix: bash tools/install.sh')
            continue
        status = 'ok' if version.startswith(prefix) else f'UNSUPPORTED (need {prefix}*)'
        print(f'{module:12s} {version:14s} {status}')
        if status != 'ok':
            problems.append(f'{module} {version} is not supported; kdcl_mm is tested with {prefix}*')
    try:
        import torch
        from mmcv.ops import nms
        boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 10., 10.], [20., 20., 30., 30.]])
        _, keep = nms(boxes, torch.tensor([0.9, 0.8, 0.7]), iou_threshold=0.5)
        assert keep.tolist() == [0, 2], keep
        print('mmcv.ops     compiled (nms ran)')
    except Exception as e:  # noqa: BLE001 - report any failure with the fix
        problems.append(f'mmcv compiled ops unusable ({type(e).__name__}: {e}). Fix: '
                        'pip uninstall -y mmcv && bash tools/install.sh (builds with --no-build-isolation)')
    try:
        from mmengine.config.utils import MODULE2PACKAGE
        assert 'kdcl_mm' in MODULE2PACKAGE
        print('kdcl_mm::    config scope active')
    except AssertionError:
        problems.append('the kdcl_mm:: config scope is not installed (kdcl_mm.pth missing). '
                        'Fix: bash tools/install.sh')
    return problems


if __name__ == '__main__':
    found = check()
    for p in found:
        print('ERROR:', p, file=sys.stderr)
    sys.exit(1 if found else 0)
