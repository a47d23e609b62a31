#!/usr/bin/env bash
# Idempotent set-up of the kdcl_mm stack: torch -> mmcv -> OpenMMLab -> kdcl_mm.
#
#   bash tools/install.sh              # creates/uses ./.venv: torch 2.14.1, mmcv 2.1.0 with ops
#   bash tools/install.sh --no-ops     # mmcv-lite instead of the mmcv build: KDCL pretraining
#                                      # only (detection/segmentation need the compiled ops)
#   KDCL_PYTHON=python bash tools/install.sh   # your own environment (conda, venv): any torch
#                                      # in the supported range is kept, a working mmcv too
#
# Re-running it with everything installed takes seconds. Built mmcv wheels are cached per torch
# build under ${KDCL_WHEEL_CACHE:-~/.cache/kdcl_mm/wheels} (pip's own cache would hand a wheel
# built against one torch to another).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
# The supported torch range: 2.1 (the last series with official mmcv wheels) up to 2.14.
TORCH_MIN_MINOR=1
TORCH_MAX_MINOR=14
RANGE="torch 2.${TORCH_MIN_MINOR}.x to 2.${TORCH_MAX_MINOR}.x"
MMCV_VERSION=2.1.0
say() { printf '\033[1m[kdcl_mm install]\033[0m %s\n' "$*"; }
die() { printf '\033[31m[kdcl_mm install] ERROR:\033[0m %s\n' "$*" >&2; exit 1; }

WITH_OPS=1
for arg in "$@"; do
  case "$arg" in
    --no-ops) WITH_OPS=0 ;;
    -h|--help) sed -n '2,12p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) die "unknown option '$arg'. Options: --no-ops" ;;
  esac
done

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

# 1. torch. An installed torch is kept when it is in the range and refused otherwise, before any
#    download or compiler run.
torch_version="$("$PY" -c 'import torch; print(torch.__version__)' 2>/dev/null || true)"
if [ -z "$torch_version" ]; then
  say "installing torch (requirements/torch.txt)"
  "${PIP[@]}" install -r requirements/torch.txt ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"}
  torch_version="$("$PY" -c 'import torch; print(torch.__version__)')"
fi
torch_major="${torch_version%%.*}"
torch_minor="${torch_version#*.}"; torch_minor="${torch_minor%%.*}"
if [ "$torch_major" != 2 ] || [ "$torch_minor" -lt "$TORCH_MIN_MINOR" ] \
    || [ "$torch_minor" -gt "$TORCH_MAX_MINOR" ]; then
  die "torch $torch_version is not supported. kdcl_mm supports $RANGE
  (mmcv 2.1.0, which mmdet 3.3 and mmseg 1.2 require, has no release for older torch; newer torch
  is untested). Fix: use a fresh environment (unset KDCL_PYTHON), or install a torch in the range:
  $PY -m pip install -r requirements/torch.txt"
fi
say "torch $torch_version"

# torch < 2.3 was built against numpy 1; opencv >= 4.11 pulls numpy 2.
CONSTRAINTS="$(mktemp)"
trap 'rm -f "$CONSTRAINTS"' EXIT
if [ "$torch_minor" -lt 3 ]; then
  printf 'numpy<2\nopencv-python<4.11\n' >"$CONSTRAINTS"
  if ! "$PY" -c 'import numpy, sys; sys.exit(int(numpy.__version__.split(".")[0]) >= 2)'; then
    say "torch $torch_version needs numpy < 2 (installing numpy<2, opencv-python<4.11)"
    "${PIP[@]}" install -q "numpy<2" "opencv-python<4.11"
  fi
fi
# torchvision's minor version is torch's plus 15 (0.16 <-> 2.1, 0.29 <-> 2.14).
if ! "$PY" -c 'import torchvision' 2>/dev/null; then
  say "installing torchvision 0.$((torch_minor + 15)).* to match torch $torch_version"
  "${PIP[@]}" install -c "$CONSTRAINTS" "torchvision==0.$((torch_minor + 15)).*" \
    ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"}
fi

# 2. mmcv. Build prerequisites first: mmcv's setup.py and mmengine's `pkg::` config resolution
#    import pkg_resources (setuptools < 81).
"${PIP[@]}" install -q -c "$CONSTRAINTS" "setuptools<81" wheel "mmengine==0.10.7"
mmcv_version() { "$PY" -c 'import mmcv; print(mmcv.__version__)' 2>/dev/null || true; }
mmcv_has_ops() { "$PY" -c 'import mmcv._ext, mmcv.ops' 2>/dev/null; }
mmcv_lite_installed() { "${PIP[@]}" show -q mmcv-lite >/dev/null 2>&1; }

# The C++ standard torch's headers need: C++20 from torch 2.14 on, C++17 before. mmcv 2.1.0's
# setup.py hard-codes c++17 for the host compiler and for nvcc (separate flags), so an unpacked
# copy of the sdist is patched; nothing of mmcv lives in this repository.
cxx_std() { if [ "$torch_minor" -ge 14 ]; then echo 20; else echo 17; fi; }

build_mmcv() {
  local std cuda cache wheel src
  std="$(cxx_std)"
  cuda="$("$PY" -c 'import torch; print(torch.version.cuda or "cpu")')"
  cache="${KDCL_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kdcl_mm/wheels}/mmcv-$MMCV_VERSION-torch${torch_version//+/_}-cuda$cuda"
  wheel="$(ls "$cache"/mmcv-"$MMCV_VERSION"-*.whl 2>/dev/null | head -n1 || true)"
  if [ -z "$wheel" ]; then
    say "building mmcv $MMCV_VERSION with compiled ops, -std=c++$std (8-12 minutes on 2 cores, once;"
    say "the wheel is cached in $cache)"
    src="$(mktemp -d)"
    "${PIP[@]}" download -q --no-deps --no-binary mmcv --no-build-isolation \
      "mmcv==$MMCV_VERSION" -d "$src"
    tar xzf "$src/mmcv-$MMCV_VERSION.tar.gz" -C "$src"
    if [ "$std" != 17 ]; then
      sed -i -e "s/\['cxx'\] = \['-std=c++17'\]/['cxx'] = ['-std=c++$std']/" \
             -e "s/'-Wall', '-std=c++17'/'-Wall', '-std=c++$std'/" \
             -e "s/\['nvcc'\] += \['-std=c++17'\]/['nvcc'] += ['-std=c++$std']/" \
             "$src/mmcv-$MMCV_VERSION/setup.py"
      [ "$(grep -c -- "-std=c++$std" "$src/mmcv-$MMCV_VERSION/setup.py")" -ge 3 ] \
        || die "could not switch mmcv $MMCV_VERSION's setup.py to -std=c++$std (its text changed?)"
    fi
    # Build isolation would hide torch from setup.py and silently drop the compiled ops.
    MAX_JOBS="${MAX_JOBS:-$(nproc)}" CFLAGS="${CFLAGS:--g0}" CXXFLAGS="${CXXFLAGS:--g0}" \
      "${PIP[@]}" wheel -q --no-build-isolation --no-deps "$src/mmcv-$MMCV_VERSION" -w "$cache"
    rm -rf "$src"
    wheel="$(ls "$cache"/mmcv-"$MMCV_VERSION"-*.whl | head -n1)"
  else
    say "mmcv $MMCV_VERSION wheel for torch $torch_version found in $cache"
  fi
  # mmcv-lite and mmcv both own the `mmcv` package directory.
  if mmcv_lite_installed; then "${PIP[@]}" uninstall -q -y mmcv-lite; fi
  "${PIP[@]}" install -q --no-deps --force-reinstall "$wheel"
  "${PIP[@]}" install -q -c "$CONSTRAINTS" "mmcv==$MMCV_VERSION" # its pure-Python requirements
}

if [ "$WITH_OPS" = 1 ]; then
  if [ "$(mmcv_version)" = "$MMCV_VERSION" ] && mmcv_has_ops; then
    say "mmcv $MMCV_VERSION with compiled ops (kept)"
  else
    build_mmcv
    mmcv_has_ops || die "mmcv was installed without its compiled ops (mmcv._ext is missing).
  Fix: rm -rf ${KDCL_WHEEL_CACHE:-~/.cache/kdcl_mm/wheels} && bash tools/install.sh
  (it must be built with --no-build-isolation after torch, with setuptools<81)."
    say "mmcv $MMCV_VERSION with compiled ops"
  fi
else
  if [ "$(mmcv_version)" = "$MMCV_VERSION" ]; then
    say "mmcv $MMCV_VERSION present (kept; --no-ops never removes compiled ops)"
  else
    say "installing mmcv-lite $MMCV_VERSION (no compiled ops: KDCL pretraining only;"
    say "detection and segmentation need: bash tools/install.sh)"
    "${PIP[@]}" install -q -c "$CONSTRAINTS" "mmcv-lite==$MMCV_VERSION"
  fi
fi

# 3. The rest of the stack (the tested pins) and kdcl_mm itself, editable so that configs/ is
#    visible as kdcl_mm::. Neither step touches torch or mmcv.
"${PIP[@]}" install -q -c "$CONSTRAINTS" -r requirements/runtime.txt -r requirements/tests.txt
# Checked from / so that the repo's own directory on sys.path does not count as installed.
(cd / && "$PY" -c 'import kdcl_mm' 2>/dev/null) \
  || "${PIP[@]}" install -q --no-build-isolation --no-deps -e .
# kdcl_mm.pth lets configs parsed before `import kdcl_mm` use `_base_ = 'kdcl_mm::...'`.
"$PY" -c 'import sysconfig, _kdcl_mm_scope; _kdcl_mm_scope.write_pth(sysconfig.get_paths()["purelib"])'
if [ "$WITH_OPS" = 1 ]; then
  "$PY" -m kdcl_mm.utils.check_env
else
  "$PY" -m kdcl_mm.utils.check_env --no-ops
fi
say "done. Use: $PY (or: source ${VENV:-<your env>}/bin/activate)"
