#!/usr/bin/env bash
# The whole KDCL pipeline in miniature on real MNIST digits, CPU only (docs/demo.md):
# KDCL and solo pretraining, the generator ablation, export, a detector and a segmentor on
# MNIST-COCO from each backbone, and a report (report.md, report.json, PNG plots).
#
#   bash tools/run_demo.sh                  # full mode, seeds 0 1 2, into work_dirs/demo
#   bash tools/run_demo.sh --quick          # smoke test of the chain (what CI runs)
#   bash tools/run_demo.sh --help           # all options
#
# Uses $PYTHON, else the repository's .venv (tools/install.sh), else `python`.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x "$repo/.venv/bin/python" ]]; then PYTHON="$repo/.venv/bin/python"; else PYTHON=python; fi
fi
exec "$PYTHON" "$repo/tools/demo/run_demo.py" "$@"
