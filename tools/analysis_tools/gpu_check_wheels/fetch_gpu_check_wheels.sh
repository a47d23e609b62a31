#!/usr/bin/env bash
# Download, on a machine with internet, the wheels the GPU check installs on an air-gapped
# node (Python 3.12, Linux): mmengine, mmcv-lite (no compiled ops) and mmpretrain at the
# versions pinned in requirements/, and every package their Requires-Dist pulls in (pure.txt,
# binary.txt beside this script), one wheel each, for that Python.
#   bash tools/analysis_tools/gpu_check_wheels/fetch_gpu_check_wheels.sh   # into .whl/ (git-ignored)
#   DEST=/tmp/whl PLATFORM=manylinux_2_28_aarch64 bash tools/analysis_tools/gpu_check_wheels/fetch_gpu_check_wheels.sh
#   BINARY_DEPS=0 bash ...   # skip numpy/OpenCV/Pillow/matplotlib/PyYAML (the node has them)
# The list comes from `python -m tools.analysis_tools.gpu_check_wheels --downloads`; the closure
# is checked at the end. On the node, gpu_check.sh installs the three OpenMMLab wheels and only
# those others the node lacks.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../../.." && pwd)"
DEST="${DEST:-$ROOT/.whl}"
PYTHON_VERSION="${PYTHON_VERSION:-3.12}"
PLATFORM="${PLATFORM:-x86_64}"
BINARY_DEPS="${BINARY_DEPS:-1}"
PIP="${PIP:-python3 -m pip}"
kit=(python3 -m tools.analysis_tools.gpu_check_wheels)
[ "$BINARY_DEPS" = 1 ] || kit_flags=(--no-binary)

case "$PLATFORM" in
    x86_64|aarch64) PLATFORMS=(manylinux2014_"$PLATFORM" manylinux_2_28_"$PLATFORM") ;;
    *) PLATFORMS=("$PLATFORM") ;;
esac
platform_args=(--platform any)
for p in "${PLATFORMS[@]}"; do platform_args+=(--platform "$p"); done

cd "$ROOT"  # the kit's module, and requirements/, are read from this tree
list="$("${kit[@]}" --downloads ${kit_flags[@]+"${kit_flags[@]}"})"  # fails the script if it fails
mapfile -t packages <<< "$list"
mkdir -p "$DEST"
# Wheels never go into git: ignore the default folder in this clone (not in .gitignore, which
# every user shares; .git/info/exclude is this checkout's own list).
if [ "$DEST" = "$ROOT/.whl" ] && [ -d "$ROOT/.git" ]; then
    mkdir -p "$ROOT/.git/info"
    grep -qxF '.whl/' "$ROOT/.git/info/exclude" 2>/dev/null || echo '.whl/' >> "$ROOT/.git/info/exclude"
fi
# --isolated: no local index or find-links from pip's config; --no-deps: the list is the
# closure, checked below.
$PIP download --isolated --no-deps --only-binary=:all: --python-version "$PYTHON_VERSION" \
    --implementation cp "${platform_args[@]}" --dest "$DEST" "${packages[@]}"
"${kit[@]}" --wheels "$DEST" --check-closure "$PYTHON_VERSION" ${kit_flags[@]+"${kit_flags[@]}"}
du -sh "$DEST"
