#!/usr/bin/env bash
# The whole KDCL pipeline in miniature on real MNIST digits, CPU only (docs/demo.md):
# KDCL and solo pretraining, the generator ablation, export, a detector and a segmentor on
# MNIST-COCO from the students, and a report (report.md, report.json, PNG plots).
#
#   bash tools/run_demo.sh                  # make demo: seeds 0 1 2, within 30 min on 2 cores
#   bash tools/run_demo.sh --full           # the evidence: 5 seeds, both students (docs/demo.md)
#   bash tools/run_demo.sh --quick          # smoke test of the chain (what CI runs)
#   bash tools/run_demo.sh --help           # all options
#
# Uses $PYTHON, else the repository's .venv (tools/install.sh), else `python`.
set -euo pipefail
repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [[ -z "${PYTHON:-}" ]]; then
    if [[ -x "$repo/.venv/bin/python" ]]; then PYTHON="$repo/.venv/bin/python"; else PYTHON=python; fi
fi
# A module of the repository's tools package, run from the root (a `tools` folder in the caller's
# folder must not shadow it). Relative --out-dir / --data-dir stay relative to the caller's folder.
export KDCL_DEMO_CALLER_DIR="$PWD"
cd "$repo"
exec "$PYTHON" -m tools.demo.run_demo "$@"
