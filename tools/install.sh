#!/usr/bin/env bash
# Idempotent set-up of the kdcl_mm stack: torch -> mmcv -> OpenMMLab -> kdcl_mm, on either
# OpenMMLab line (docs/openmmlab_lines.md: upstream OpenMMLab, or VBTI's onedl-* forks).
#
#   bash tools/install.sh                # ./.venv: torch 2.14.1, mmcv 2.1.0 with ops, upstream
#   bash tools/install.sh --line onedl   # ./.venv-onedl: torch 2.14.1, onedl-mmcv 2.3.6 with ops,
#                                        # onedl-mmengine, -mmpretrain, -mmdetection, -mmsegmentation
#   bash tools/install.sh --no-ops       # mmcv-lite instead of the mmcv build (upstream line):
#                                        # KDCL pretraining only (detection/segmentation need ops)
#   KDCL_PYTHON=python bash tools/install.sh   # your own environment (conda, venv): its line is
#                                        # detected and kept, so are its torch (if in the range),
#                                        # a working mmcv and the OpenMMLab packages it has
#   KDCL_VENV=DIR bash tools/install.sh [--line onedl]   # the virtual environment in DIR
#
# Versions: the pins of requirements/ (torch.txt, LINE.txt, LINE-mmcv.txt); the torch range in
# kdcl_mm/utils/stack_check.py, which this script asks before anything is installed. Re-running
# it with everything installed takes seconds. Built mmcv wheels are cached per torch build under
# ${KDCL_WHEEL_CACHE:-~/.cache/kdcl_mm/wheels} (pip's own cache would hand a wheel built against
# one torch to another).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
STACK_CHECK="$ROOT/kdcl_mm/utils/stack_check.py"  # standard library only: runs before kdcl_mm
say() { printf '\033[1m[kdcl_mm install]\033[0m %s\n' "$*"; }
die() { printf '\033[31m[kdcl_mm install] ERROR:\033[0m %s\n' "$*" >&2; exit 1; }

WITH_OPS=1
LINE=
while [ $# -gt 0 ]; do
  case "$1" in
    --no-ops) WITH_OPS=0 ;;
    --line) [ $# -ge 2 ] || die "--line needs a value: upstream or onedl"; LINE="$2"; shift ;;
    --line=*) LINE="${1#--line=}" ;;
    -h|--help) sed -n '2,21p' "${BASH_SOURCE[0]}"; exit 0 ;;
    *) die "unknown option '$1'. Options: --line upstream|onedl, --no-ops" ;;
  esac
  shift
done
case "$LINE" in
  ''|upstream|onedl) ;;
  *) die "unknown line '$LINE'. Lines: upstream (OpenMMLab's releases), onedl (VBTI's forks)" ;;
esac

if [ -n "${KDCL_PYTHON:-}" ]; then
  PY="$KDCL_PYTHON"
else
  DEFAULT_VENV="$ROOT/.venv"
  if [ "$LINE" = onedl ]; then DEFAULT_VENV="$ROOT/.venv-onedl"; fi
  VENV="${KDCL_VENV:-$DEFAULT_VENV}"
  if [ ! -x "$VENV/bin/python" ]; then
    say "creating virtual environment $VENV"
    python3 -m venv "$VENV"
    echo '*' >"$VENV/.gitignore"  # as Python >= 3.13's venv writes: never part of a checkout
  fi
  PY="$VENV/bin/python"
fi
PIP=("$PY" -m pip --disable-pip-version-check)
say "python: $("$PY" -c 'import sys; print(sys.executable, sys.version.split()[0])')"
ERR="$(mktemp)"
CONSTRAINTS="$(mktemp)"
trap 'rm -f "$ERR" "$CONSTRAINTS"' EXIT

# 0. The line. An environment that holds one keeps it; one that mixes them is refused.
detected="$("$PY" "$STACK_CHECK" line 2>"$ERR")" || die "$(cat "$ERR")"
if [ -z "$LINE" ]; then
  LINE="${detected:-upstream}"
elif [ -n "$detected" ] && [ "$detected" != "$LINE" ]; then
  die "$PY holds the $detected line; --line $LINE would install its packages over those, which
  this installer never does. Fix: a fresh environment for $LINE (unset KDCL_PYTHON, or set
  KDCL_VENV to a new folder), or move this one as docs/openmmlab_lines.md shows."
fi
say "OpenMMLab line: $LINE${detected:+ (found in this environment)}"
"$PY" "$STACK_CHECK" python "$LINE" 2>"$ERR" || die "$(cat "$ERR")"
if [ "$LINE" = onedl ] && [ "$WITH_OPS" = 0 ]; then
  die "--no-ops has no onedl counterpart: there is no onedl-mmcv-lite, and onedl-mmcv compiles
  its ops even with MMCV_WITH_OPS=0. Fix: bash tools/install.sh --line onedl (builds them)."
fi
# pin DIST FILE: the version requirements/FILE pins DIST to. Called as $(pin ...): die ends
# only that subshell, and the failed assignment then stops the script under set -e.
pin() { "$PY" "$STACK_CHECK" pin "$1" "requirements/$2" 2>"$ERR" || die "$(cat "$ERR")"; }
# absent FILE: the pins of requirements/FILE whose distribution this environment lacks (kept
# ones may differ from the pin; check_env reports any outside the supported range).
absent() { "$PY" "$STACK_CHECK" absent "requirements/$1"; }
if [ "$LINE" = onedl ]; then MMCV_DIST=onedl-mmcv; MMENGINE_DIST=onedl-mmengine
else MMCV_DIST=mmcv; MMENGINE_DIST=mmengine; fi
MMCV_VERSION="$(pin "$MMCV_DIST" "$LINE-mmcv.txt")"
MMENGINE_VERSION="$(pin "$MMENGINE_DIST" "$LINE.txt")"

# 1. torch. An installed torch is kept when it is in the line's range and refused otherwise,
#    before any download or compiler run.
torch_version="$("$PY" -c 'import torch; print(torch.__version__)' 2>/dev/null || true)"
if [ -z "$torch_version" ]; then
  say "installing torch (requirements/torch.txt)"
  "${PIP[@]}" install -r requirements/torch.txt ${TORCH_INDEX_URL:+--index-url "$TORCH_INDEX_URL"}
  torch_version="$("$PY" -c 'import torch; print(torch.__version__)')"
fi
"$PY" "$STACK_CHECK" torch "$torch_version" "$LINE" 2>"$ERR" || die "$(cat "$ERR")
  (with KDCL_PYTHON: $PY)"
torch_minor="${torch_version#*.}"; torch_minor="${torch_minor%%.*}"
say "torch $torch_version"

# torch < 2.3 was built against numpy 1; opencv >= 4.11 pulls numpy 2.
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

# 2. mmcv. Build prerequisites first: mmcv 2.1.0's setup.py and upstream mmengine's `pkg::`
#    config resolution import pkg_resources (setuptools < 81); onedl-mmcv needs setuptools >= 80.
#    The line's mmengine comes first so that mmcv's own requirements find it.
mmengine_pin=()
if [ -n "$(absent "$LINE.txt" | grep "^$MMENGINE_DIST==" || true)" ]; then
  mmengine_pin=("$MMENGINE_DIST==$MMENGINE_VERSION")
fi
"${PIP[@]}" install -q -c "$CONSTRAINTS" "setuptools<81" wheel "${mmengine_pin[@]}"
# Versions come from the installed distribution, as everywhere in kdcl_mm (the forks removed
# mmcv.version_info).
mmcv_version() {
  "$PY" -c "import importlib.metadata as m; print(m.version('$MMCV_DIST'))" 2>/dev/null || true
}
mmcv_has_ops() { "$PY" -c 'import mmcv._ext, mmcv.ops' 2>/dev/null; }
mmcv_lite_installed() { "${PIP[@]}" show -q mmcv-lite >/dev/null 2>&1; }
# A working mmcv of the pinned series (2.1.x, 2.3.x) is kept; the line's mmdet and mmseg accept
# no other.
mmcv_kept() { local v; v="$(mmcv_version)"; [ -n "$v" ] && [ "${v%.*}" = "${MMCV_VERSION%.*}" ]; }

# The C++ standard torch's headers need: C++20 from torch 2.14 on, C++17 before. mmcv 2.1.0's
# and onedl-mmcv 2.3.6's setup.py hard-code c++17 for the host compiler and for nvcc (separate
# flags), so an unpacked copy of the sdist is patched; nothing of mmcv lives in this repository.
cxx_std() { if [ "$torch_minor" -ge 14 ]; then echo 20; else echo 17; fi; }

build_mmcv() {
  local std cuda cache wheel src setup
  std="$(cxx_std)"
  cuda="$("$PY" -c 'import torch; print(torch.version.cuda or "cpu")')"
  cache="${KDCL_WHEEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/kdcl_mm/wheels}/$MMCV_DIST-$MMCV_VERSION-torch${torch_version//+/_}-cuda$cuda"
  wheel="$(ls "$cache/${MMCV_DIST//-/_}-$MMCV_VERSION"-*.whl 2>/dev/null | head -n1 || true)"
  if [ -z "$wheel" ]; then
    say "building $MMCV_DIST $MMCV_VERSION with compiled ops, -std=c++$std (10-20 minutes on 2"
    say "cores, once; the wheel is cached in $cache)"
    src="$(mktemp -d)"
    "${PIP[@]}" download -q --no-deps --no-binary "$MMCV_DIST" --no-build-isolation \
      "$MMCV_DIST==$MMCV_VERSION" -d "$src"
    tar xzf "$src"/*.tar.gz -C "$src"
    setup="$(ls "$src"/*/setup.py)"
    if [ "$std" != 17 ]; then
      sed -i -e "s/\['cxx'\] = \['-std=c++17'\]/['cxx'] = ['-std=c++$std']/" \
             -e "s/'-Wall', '-std=c++17'/'-Wall', '-std=c++$std'/" \
             -e "s/\['nvcc'\] += \['-std=c++17'\]/['nvcc'] += ['-std=c++$std']/" "$setup"
      [ "$(grep -c -- "-std=c++$std" "$setup")" -ge 3 ] \
        || die "could not switch $MMCV_DIST $MMCV_VERSION's setup.py to -std=c++$std (its text changed?)"
    fi
    # Build isolation would hide torch from setup.py and silently drop the compiled ops.
    MAX_JOBS="${MAX_JOBS:-$(nproc)}" CFLAGS="${CFLAGS:--g0}" CXXFLAGS="${CXXFLAGS:--g0}" \
      "${PIP[@]}" wheel -q --no-build-isolation --no-deps "$(dirname "$setup")" -w "$cache"
    rm -rf "$src"
    wheel="$(ls "$cache/${MMCV_DIST//-/_}-$MMCV_VERSION"-*.whl | head -n1)"
  else
    say "$MMCV_DIST $MMCV_VERSION wheel for torch $torch_version found in $cache"
  fi
  # mmcv-lite and mmcv both own the `mmcv` package directory.
  if mmcv_lite_installed; then "${PIP[@]}" uninstall -q -y mmcv-lite; fi
  "${PIP[@]}" install -q --no-deps --force-reinstall "$wheel"
  "${PIP[@]}" install -q -c "$CONSTRAINTS" "$MMCV_DIST==$MMCV_VERSION" # its pure-Python requirements
}

if [ "$WITH_OPS" = 1 ]; then
  if mmcv_kept && mmcv_has_ops; then
    say "$MMCV_DIST $(mmcv_version) with compiled ops (kept)"
  else
    build_mmcv
    mmcv_has_ops || die "$MMCV_DIST was installed without its compiled ops (mmcv._ext is missing).
  Fix: rm -rf ${KDCL_WHEEL_CACHE:-~/.cache/kdcl_mm/wheels} && bash tools/install.sh
  (it must be built with --no-build-isolation after torch, with setuptools<81)."
    say "$MMCV_DIST $MMCV_VERSION with compiled ops"
  fi
else
  if mmcv_kept; then
    say "mmcv $(mmcv_version) present (kept; --no-ops never removes compiled ops)"
  else
    say "installing mmcv-lite $MMCV_VERSION (no compiled ops: KDCL pretraining only;"
    say "detection and segmentation need: bash tools/install.sh)"
    "${PIP[@]}" install -q -c "$CONSTRAINTS" "mmcv-lite==$MMCV_VERSION"
  fi
fi

# 3. The line's OpenMMLab packages (the tested pins, for those not installed), what kdcl_mm needs
#    on either line, and kdcl_mm itself, editable so that configs/ is visible as kdcl_mm::.
#    None of these steps touches torch or mmcv.
mapfile -t line_pins < <(absent "$LINE.txt")
if [ "${#line_pins[@]}" -gt 0 ]; then say "installing ${line_pins[*]}"; fi
"${PIP[@]}" install -q -c "$CONSTRAINTS" "${line_pins[@]}" \
  -r requirements/runtime.txt -r requirements/tests.txt
# (Re)installed when it is missing or its metadata (the extras check_env reads) predates
# pyproject.toml. Checked from / so that the repo's own directory on sys.path does not count.
(cd / && "$PY" -c 'import importlib.metadata as m, os, sys, kdcl_mm
meta = [f for f in m.distribution("kdcl-openmmlab").files if f.name == "METADATA"][0]
sys.exit(os.path.getmtime(m.distribution("kdcl-openmmlab").locate_file(meta))
         < os.path.getmtime(sys.argv[1]))' "$ROOT/pyproject.toml" 2>/dev/null) \
  || "${PIP[@]}" install -q --no-build-isolation --no-deps -e .
# kdcl_mm.pth lets configs parsed before `import kdcl_mm` use `_base_ = 'kdcl_mm::...'`.
"$PY" -c 'import sysconfig, _kdcl_mm_scope; _kdcl_mm_scope.write_pth(sysconfig.get_paths()["purelib"])'
if [ "$WITH_OPS" = 1 ]; then
  "$PY" -m kdcl_mm.utils.check_env
else
  "$PY" -m kdcl_mm.utils.check_env --no-ops
fi
say "done ($LINE line). Use: $PY (or: source ${VENV:-<your env>}/bin/activate)"
