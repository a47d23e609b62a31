"""mmcv's compiled ops, checked where they are needed rather than at ``import kdcl_mm``."""

FIX = (
    'Fix: bash tools/install.sh (without --no-ops) builds mmcv 2.1.0 with its ops against '
    'your torch; in your own environment: KDCL_PYTHON=$(which python) bash tools/install.sh. '
    'An mmcv without ops (mmcv-lite, or a build with build isolation) is enough for KDCL '
    'pretraining only.'
)


class MissingCompiledOpsError(RuntimeError):
    """mmcv._ext is missing where a detector or segmentor needs it.

    Not an ImportError on purpose: mmengine re-raises ImportErrors from ``custom_imports`` as
    "set PYTHONPATH", which would hide the fix.
    """


def require_compiled_ops(purpose: str) -> None:
    """Raise :class:`MissingCompiledOpsError` naming ``purpose`` and the fix without them."""
    try:
        import mmcv._ext  # noqa: F401
    except ImportError as err:
        raise MissingCompiledOpsError(
            f'{purpose} need mmcv with its compiled ops, and mmcv._ext is missing ({err}). {FIX}'
        ) from err
