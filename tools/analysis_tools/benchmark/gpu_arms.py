"""The GPU check's arms beyond its precision modes (docs/benchmark.md, "GPU check"):

* ``batch``: a batch sweep (``settings.batch_sizes``) in bf16 and fp16 with channels_last, the
  lean mode at each batch; an arm that runs out of memory is reported ``oom`` and the sweep
  goes on;
* ``fused``: SGD ``fused=True`` (torch >= 2.3, through ``optim_wrapper.optimizer``) against the
  foreach default, side by side;
* ``compile``: the arms with ``train_step`` compiled as mmengine's ``cfg.compile=True`` does
  (``torch.compile``), against the same without;
* ``equality``: lean against default gradients after 3 steps under
  ``torch.use_deterministic_algorithms(True)``, and ``apply_view_distortion`` on the device
  against the CPU result.

``modes`` is the check's six precision runs (:func:`.run.run_gpu_check`). Every arm is one
function of (cfg, settings, run_mode) returning a list of runs or a dict; failures are caught
per run (:func:`guarded`).
"""

import dataclasses
import gc
from typing import Callable, Dict, List

import torch

from .settings import PRECISIONS, BenchmarkSettings

ARMS = ('modes', 'batch', 'fused', 'compile', 'equality')
#: The dry run's (CPU): no AMP, so the sweep's runs are listed as skipped; compiling on a
#: loaded CPU takes minutes, so it is left out unless asked.
DRY_ARMS = ('modes', 'batch', 'fused', 'equality')
SWEEP_PRECISIONS = ('bf16', 'fp16')
#: Steps of every run of these arms on the GPU (the modes': 10 warm-up, 5 rounds x 4).
BUDGET = dict(warmup_steps=5, rounds=3, steps_per_round=3)


def is_oom(err: BaseException) -> bool:
    """A CUDA (or CPU allocator) out-of-memory error."""
    oom = getattr(torch.cuda, 'OutOfMemoryError', ())
    return (bool(oom) and isinstance(err, oom)) or 'out of memory' in str(err).lower()


def guarded(fn: Callable[[], dict], device: str) -> dict:
    """``dict(status='ok', **fn())``, or ``status`` 'oom' / 'error' with the reason; memory is
    freed either way, so that one arm's failure leaves the next its memory."""
    try:
        return dict(fn(), status='ok')
    except Exception as err:  # one failing run must not hide the others' numbers
        return dict(status='oom' if is_oom(err) else 'error', reason=f'{type(err).__name__}: {err}')
    finally:
        gc.collect()
        if device.startswith('cuda'):
            torch.cuda.empty_cache()


def _run(run_mode, settings: BenchmarkSettings, precision: str, **changes) -> dict:
    """One run of ``run_mode(settings)`` (the check's per-mode measurement) in ``precision``."""
    amp = PRECISIONS[precision]
    head = dict(mode=precision, amp=amp, channels_last=changes.get('channels_last', True))
    head.update({k: v for k, v in changes.items() if k != 'channels_last'})
    if amp and settings.device == 'cpu':
        return dict(head, status='skipped', reason='AmpOptimWrapper needs CUDA')
    if not settings.quick:  # the budget: these arms time fewer steps than the modes
        changes = dict(dict(BUDGET), **changes)
    mode = dataclasses.replace(settings, amp=amp, **dict(dict(channels_last=True), **changes))
    return dict(head, **guarded(lambda: run_mode(mode), settings.device))


def arm_precision(settings: BenchmarkSettings) -> str:
    """fp16 on a GPU (the check's fastest AMP mode), fp32 on the CPU (no AMP there)."""
    return 'fp32' if settings.device == 'cpu' else 'fp16'


def batch_sweep(settings: BenchmarkSettings, run_mode) -> List[dict]:
    """Each of ``settings.batch_sizes`` in bf16 and fp16 with channels_last (lean included)."""
    return [
        _run(run_mode, settings, p, batch_size=b, iteration=False)
        for p in SWEEP_PRECISIONS
        for b in settings.batch_sizes
    ]


def fused_sgd(settings: BenchmarkSettings, run_mode) -> List[dict]:
    """The optimiser's foreach default against ``fused=True``."""
    p = arm_precision(settings)
    return [
        _run(run_mode, settings, p, optimizer_options={}, iteration=False, lean=False),
        _run(
            run_mode, settings, p, optimizer_options=dict(fused=True), iteration=False, lean=False
        ),
    ]


def compiled(settings: BenchmarkSettings, run_mode) -> List[dict]:
    """Without and with ``torch.compile`` of ``train_step``."""
    p = arm_precision(settings)
    return [
        _run(run_mode, settings, p, compile=c, iteration=False, lean=False) for c in (False, True)
    ]


# --------------------------------------------------------------------------- equality


def compare(a: Dict[str, torch.Tensor], b: Dict[str, torch.Tensor]) -> dict:
    """Whether two name -> tensor maps are equal bit for bit, and the largest difference."""
    if a.keys() != b.keys():
        return dict(equal=False, max_abs_diff=None, differing=sorted(a.keys() ^ b.keys()))
    differing = [k for k in a if not torch.equal(a[k].cpu(), b[k].cpu())]
    diff = max(
        ((a[k].cpu().double() - b[k].cpu().double()).abs().max().item() for k in differing),
        default=0.0,
    )
    return dict(equal=not differing, max_abs_diff=diff, differing=differing[:5], n=len(a))


def view_distortion_equality(device: str, batch: int = 8, size: int = 64, seed: int = 0) -> dict:
    """``apply_view_distortion`` of one uint8 batch and its rows on ``device`` against the CPU."""
    from kdcl_mm.datasets.transforms.view_distortion import apply_view_distortion

    from .data import distortion_rows

    gen = torch.Generator().manual_seed(seed)
    images = torch.randint(0, 256, (batch, 3, size, size), generator=gen, dtype=torch.uint8)
    rows = distortion_rows(batch, gen)
    on_cpu = apply_view_distortion(images, rows)
    on_device = apply_view_distortion(images.to(device), rows)
    return dict(compare(dict(images=on_cpu), dict(images=on_device)), device=device)


def lean_gradient_equality(cfg, settings: BenchmarkSettings, steps: int = 3) -> dict:
    """KDCL in its default and in lean mode, same weights, ``steps`` train_steps on the same
    synthetic batch under deterministic algorithms, then one forward + backward: its
    gradients, the weights and the buffers compared bit for bit."""
    from .data import defers_distortion, synthetic_batch
    from .step_overhead import build_arms

    deterministic = torch.are_deterministic_algorithms_enabled()
    cudnn = torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark
    torch.use_deterministic_algorithms(True)
    torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = True, False
    try:
        mode = dataclasses.replace(settings, amp=None, channels_last=False, lean=True)
        mode.generators = mode.generators[:1]
        arms, students = build_arms(cfg, mode)
        default, lean = arms[0], arms[1]
        classes = default.model.num_classes
        batch = synthetic_batch(
            mode.batch_size,
            mode.image_size,
            len(students),
            classes,
            deferred_distortion=defers_distortion(cfg),
        )
        batch['inputs'] = [v.to(mode.device) for v in batch['inputs']]
        state = {}
        for arm in (default, lean):
            torch.manual_seed(settings.seed)
            for _ in range(steps):
                arm.step(batch)
            model = arm.model
            model.zero_grad(set_to_none=True)
            data = model.data_preprocessor(batch, True)
            model.parse_losses(model(**data, mode='loss'))[0].backward()
            state[arm.name] = (
                {k: p.grad for k, p in model.named_parameters() if p.grad is not None},
                dict(model.state_dict()),
            )
        (grads_d, state_d), (grads_l, state_l) = state.values()
        return dict(
            steps=steps,
            batch_size=mode.batch_size,
            gradients=compare(grads_d, grads_l),
            state=compare(state_d, state_l),
        )
    finally:
        torch.use_deterministic_algorithms(deterministic)
        torch.backends.cudnn.deterministic, torch.backends.cudnn.benchmark = cudnn


def equality(cfg, settings: BenchmarkSettings) -> dict:
    out = dict(
        lean_gradients=guarded(lambda: lean_gradient_equality(cfg, settings), settings.device),
        view_distortion=guarded(lambda: view_distortion_equality(settings.device), settings.device),
    )
    return out


def passed(report: dict) -> bool:
    """No run of these arms failed (an out-of-memory batch is a finding, not a failure), every
    loss stayed finite, and both equality arms held."""
    runs = [r for key in ('batch_sweep', 'fused_sgd', 'compile') for r in report.get(key, ())]
    ok = all(r['status'] in ('ok', 'oom', 'skipped') and r.get('losses_finite', True) for r in runs)
    for check in report.get('equality', {}).values():
        if check['status'] != 'ok':
            return False
        ok &= check.get('equal', True) and all(
            v.get('equal', True) for v in check.values() if isinstance(v, dict)
        )
    return ok
