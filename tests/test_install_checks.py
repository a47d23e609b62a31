"""The installer and the environment check fail loudly, with the fix, on a broken stack."""
import os
import subprocess
import sys


def test_installer_refuses_an_unsupported_torch_before_building_anything(tmp_path):
    fake = tmp_path / 'python'
    fake.write_text('#!/usr/bin/env bash\n'
                    'case "$*" in\n'
                    '  *torch.__version__*) echo 2.14.1 ;;\n'
                    '  *sys.executable*) echo "/fake/python 3.11.7" ;;\n'
                    '  *) echo "unexpected call: $*" >&2; exit 3 ;;\n'
                    'esac\n')
    fake.chmod(0o755)
    out = subprocess.run(['bash', 'tools/install.sh'], capture_output=True, text=True,
                         env=dict(os.environ, KDCL_PYTHON=str(fake)), timeout=60)
    assert out.returncode == 1
    assert 'torch 2.14.1 is not supported' in out.stderr
    assert '2.12.x' in out.stderr and 'C++20' in out.stderr
    assert 'unexpected call' not in out.stderr  # stopped before pip or the mmcv build


def test_importing_kdcl_mm_without_compiled_mmcv_ops_says_how_to_fix_it():
    code = "import sys; sys.modules['mmcv._ext'] = None; import kdcl_mm"
    out = subprocess.run([sys.executable, '-c', code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 1
    last = out.stderr.strip().splitlines()[-1]
    assert last.startswith('ImportError: mmcv is installed without its compiled ops')
    assert '--no-build-isolation' in last and 'tools/install.sh' in last
