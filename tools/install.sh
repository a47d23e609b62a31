#!/usr/bin/env bash
# Idempotent set-up of the kdcl_mm stack: torch -> mmcv (compiled ops) -> OpenMMLab -> kdcl_mm.
#
#   bash tools/install.sh            # creates/uses ./.venv
#   KDCL_PYTHON=python bash tools/install.sh   # install into an existing interpreter (conda, venv)
#
# Re-running it with everything installed takes seconds.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
SUPPORTED_TORCH="2.12"
say() { printf '\033[1m[kdcl_mm install]\033[0m %s\n' "$*"; }
die() { printf '\033[31m[kdcl_mm install] ERROR:\033[0m %s\n' "$*" >&2; exit 1; }

if [ -n "${KDCL_PYTHON:-}" ]; then
  PY="$KDCL_PYTHON"
else
  VENV="${KDCL_VENV:-$ROOT/.venv}"
  if [ ! -x "$VENV/bin/python" ]; then
    say "creating virtual environment $VENV"
    python3 -m venv "$VENV"
  fi
  PY="$VENV/bin/python"
fi
PIP=("$PY" -m pip --disable-pip-version-check)
say "python: $("$PY" -c 'import sys; print(sys.executable, sys.version.split()[0])')"

# 1. torch. An already installed torch outside the supported series stops here, before mmcv's
#    compiler would fail with a wall of C++20 errors.
torch_version="$("$PY" -c 'import torch; print(torch.__version__)' 2>/dev/null || true)"
if [ -z "$torch_version" ]; then
  say "installing torch (requirements/torch.txt)"
  "${PIP[@]}" install -r requirements/torch.txt ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"}
  torch_version="$("$PY" -c 'import torch; print(torch.__version__)')"
fi
case "$torch_version" in
  "$SUPPORTED_TORCH".*) say "torch $torch_version" ;;
  *) die "torch $torch_version is not supported. kdcl_mm supports torch ${SUPPORTED_TORCH}.x with torchvision 0.27.x
  (mmcv 2.1.0 compiles with -std=c++17 and torch >= 2.14 headers need C++20; mmdet 3.3 / mmseg 1.2 require mmcv < 2.2).
  Fix: use a fresh environment (unset KDCL_PYTHON), or: $PY -m pip install -r requirements/torch.txt" ;;
esac
"$PY" -c 'import torchvision' 2>/dev/null || "${PIP[@]}" install -r requirements/torch.txt

# 2. mmcv with compiled ops. Build isolation would hide torch from its setup.py and silently
#    produce an mmcv without mmcv._ext.
mmcv_ok() { "$PY" -c 'import mmcv, mmcv._ext, mmcv.ops; assert mmcv.__version__ == "2.1.0"' 2>/dev/null; }
if ! mmcv_ok; then
  say "building mmcv 2.1.0 with compiled ops (8-12 minutes on 2 cores; the wheel is cached by pip afterwards)"
  "${PIP[@]}" install "setuptools<81" wheel
  "${PIP[@]}" install "mmengine==0.10.7"
  MAX_JOBS="${MAX_JOBS:-$(nproc)}" CFLAGS="${CFLAGS:--g0}" CXXFLAGS="${CXXFLAGS:--g0}" \
    "${PIP[@]}" install --no-build-isolation -r requirements/mmcv.txt
  mmcv_ok || die "mmcv was installed without its compiled ops (mmcv._ext is missing).
  Fix: $PY -m pip uninstall -y mmcv && $PY -m pip cache remove mmcv && bash tools/install.sh
  (it must be built with --no-build-isolation after torch, with setuptools<81)."
fi
say "mmcv $("$PY" -c 'import mmcv; print(mmcv.__version__)') with compiled ops"

# 3. The rest of the stack and kdcl_mm itself (editable, so configs/ is visible as kdcl_mm::).
"${PIP[@]}" install -q -r requirements/runtime.txt -r requirements/tests.txt
# Checked from / so that the repo's own directory on sys.path does not count as installed.
(cd / && "$PY" -c 'import kdcl_mm' 2>/dev/null) || "${PIP[@]}" install -q --no-build-isolation --no-deps -e .
# kdcl_mm.pth lets configs parsed before `import kdcl_mm` use `_base_ = 'kdcl_mm::...'`.
"$PY" -c 'import sysconfig, _kdcl_mm_scope; _kdcl_mm_scope.write_pth(sysconfig.get_paths()["purelib"])'
"$PY" -m kdcl_mm.utils.check_env
say "done. Use: $PY (or: source ${VENV:-<your env>}/bin/activate)"
