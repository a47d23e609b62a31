#!/usr/bin/env bash
# Download, on a machine with internet, the wheels the GPU check installs on an air-gapped
# node (Python 3.12, Linux): mmengine 0.10.7, mmcv-lite 2.1.0 (no compiled ops), mmpretrain
# 1.2.0 and every package their Requires-Dist pulls in, one wheel each, for that Python.
#   bash tools/analysis_tools/fetch_gpu_check_wheels.sh            # into .whl/ (git-ignored)
#   DEST=/tmp/whl PLATFORM=manylinux_2_28_aarch64 bash tools/analysis_tools/fetch_gpu_check_wheels.sh
#   BINARY_DEPS=0 bash ...   # skip numpy/OpenCV/Pillow/matplotlib/PyYAML (the node has them)
# The pins are the set this list was resolved to (each wheel's Requires-Dist checked, closure
# verified by the check at the end). On the node, gpu_check.sh installs the three OpenMMLab
# wheels and only those others the node lacks.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
DEST="${DEST:-$ROOT/.whl}"
PYTHON_VERSION="${PYTHON_VERSION:-3.12}"
PLATFORM="${PLATFORM:-x86_64}"
BINARY_DEPS="${BINARY_DEPS:-1}"
PIP="${PIP:-python3 -m pip}"

OPENMMLAB=(mmengine==0.10.7 mmcv-lite==2.1.0 mmpretrain==1.2.0)
# Pure-Python dependencies (py3-none-any). setuptools < 81: mmengine resolves `mmpretrain::`
# configs through pkg_resources, which later setuptools drop.
PURE=(addict==2.4.0 click==8.5.1 cycler==0.12.1 einops==0.8.2 importlib-metadata==10.2.0
      lazy-importer==0.1.0 markdown==3.11.3 markdown-it-py==4.3.0 mat4py==0.6.0 mdurl==0.1.2
      model-index==0.1.11 modelindex==0.0.2 ordered-set==4.1.0 packaging==26.4
      platformdirs==4.14.9 pygments==2.21.0 pyparsing==3.3.3 python-dateutil==4.0.0
      rich==15.0.0 setuptools==80.10.2 termcolor==3.3.0 tzdata==2026.6 yapf==0.43.0
      zipp==4.1.2)
# Compiled dependencies, for cp312 on $PLATFORM. opencv-python-headless provides the cv2
# that mmcv asks for as opencv-python (54 MB against 71 MB, no GUI libraries).
BINARY=(numpy==2.5.5 opencv-python-headless==5.0.0.93 pillow==13.0.0 pyyaml==6.0.4
        matplotlib==3.11.2 contourpy==1.4.0 fonttools==4.68.0 kiwisolver==1.5.1)

case "$PLATFORM" in
    x86_64|aarch64) PLATFORMS=(manylinux2014_"$PLATFORM" manylinux_2_28_"$PLATFORM") ;;
    *) PLATFORMS=("$PLATFORM") ;;
esac
platform_args=(--platform any)
for p in "${PLATFORMS[@]}"; do platform_args+=(--platform "$p"); done

mkdir -p "$DEST"
# Wheels never go into git: ignore the default folder in this clone (not in .gitignore, which
# every user shares; .git/info/exclude is this checkout's own list).
if [ "$DEST" = "$ROOT/.whl" ] && [ -d "$ROOT/.git" ]; then
    mkdir -p "$ROOT/.git/info"
    grep -qxF '.whl/' "$ROOT/.git/info/exclude" 2>/dev/null || echo '.whl/' >> "$ROOT/.git/info/exclude"
fi
packages=("${OPENMMLAB[@]}" "${PURE[@]}")
[ "$BINARY_DEPS" = 1 ] && packages+=("${BINARY[@]}")
# --isolated: no local index or find-links from pip's config; --no-deps: the list above is
# the closure, checked below.
$PIP download --isolated --no-deps --only-binary=:all: --python-version "$PYTHON_VERSION" \
    --implementation cp "${platform_args[@]}" --dest "$DEST" "${packages[@]}"

# Every Requires-Dist (for Linux, this Python, no extras) must have a wheel in $DEST.
python3 - "$DEST" "$PYTHON_VERSION" "$BINARY_DEPS" <<'EOF'
import glob, re, sys, zipfile
try:
    from packaging.requirements import Requirement
except ImportError:
    from pip._vendor.packaging.requirements import Requirement
dest, version, binary = sys.argv[1], sys.argv[2], sys.argv[3] == '1'
env = dict(python_version=version, python_full_version=version + '.0', sys_platform='linux',
           platform_system='Linux', os_name='posix', implementation_name='cpython',
           platform_python_implementation='CPython', extra='')
norm = lambda n: re.sub(r'[-_.]+', '-', n).lower()
have = {norm(w.split('/')[-1].split('-')[0]) for w in glob.glob(dest + '/*.whl')}
count = len(have)
have |= {'opencv-python'} if 'opencv-python-headless' in have else set()
missing = set()
for wheel in glob.glob(dest + '/*.whl'):
    with zipfile.ZipFile(wheel) as z:
        meta = next(n for n in z.namelist() if n.endswith('.dist-info/METADATA'))
        for line in z.read(meta).decode().splitlines():
            if line.startswith('Requires-Dist:'):
                req = Requirement(line.split(':', 1)[1].strip())
                if (req.marker is None or req.marker.evaluate(env)) and norm(req.name) not in have:
                    missing.add(norm(req.name))
if missing and binary:
    sys.exit(f'fetch_gpu_check_wheels: no wheel for {sorted(missing)}: add them to the lists.')
print(f'fetch_gpu_check_wheels: {count} packages in {dest}'
      + (f'; the node must provide {sorted(missing)}' if missing else '; closure complete'))
EOF
du -sh "$DEST"
