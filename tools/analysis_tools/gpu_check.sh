#!/usr/bin/env bash
# The prepared GPU check (docs/benchmark.md, "GPU check"), for an air-gapped single-GPU node
# with Python 3.12, PyTorch >= 2.11 and CUDA but no OpenMMLab packages:
#   bash tools/analysis_tools/gpu_check.sh --out-dir work_dirs/gpu_check [--overwrite]
#   bash tools/analysis_tools/gpu_check.sh --dry --out-dir /tmp/gpu_check   # CPU, seconds
# Arguments go to `python -m tools.analysis_tools.gpu_check` (--help lists them).
# When mmengine/mmcv/mmpretrain do not import, the wheels in $GPU_CHECK_WHEELS (default .whl/,
# filled by the offline kit, tools/analysis_tools/gpu_check_wheels/) are installed into
# $GPU_CHECK_SITE (default .whl/site) and put on PYTHONPATH; kdcl_mm is imported from this tree.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
cd "$ROOT"
PYTHON="${PYTHON:-python3}"
WHEELS="${GPU_CHECK_WHEELS:-$ROOT/.whl}"
SITE="${GPU_CHECK_SITE:-$WHEELS/site}"

have_openmmlab() { "$PYTHON" -c 'import mmengine, mmcv, mmpretrain' >/dev/null 2>&1; }

if [ -d "$SITE" ]; then
    export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
fi
if ! have_openmmlab; then
    if ! ls "$WHEELS"/*.whl >/dev/null 2>&1; then
        echo "gpu_check.sh: mmengine/mmcv/mmpretrain do not import with $PYTHON and $WHEELS" \
             "holds no wheels. On a machine with internet run bash" \
             "tools/analysis_tools/gpu_check_wheels/fetch_gpu_check_wheels.sh and copy .whl/" \
             "with the tree." >&2
        exit 2
    fi
    "$PYTHON" -m tools.analysis_tools.gpu_check_wheels --wheels "$WHEELS" --target "$SITE"
    export PYTHONPATH="$SITE${PYTHONPATH:+:$PYTHONPATH}"
    if ! "$PYTHON" -c 'import mmengine, mmcv, mmpretrain'; then
        echo "gpu_check.sh: the wheels in $WHEELS installed into $SITE, but the imports above" \
             "still fail (see the traceback): a wheel for this Python/platform is missing." >&2
        exit 2
    fi
fi
exec "$PYTHON" -m tools.analysis_tools.gpu_check "$@"
