"""The synthetic demo every report test starts from (tests/test_tools/test_demo/demo_files.py)."""

import pytest

from .demo_files import make_synthetic_demo


@pytest.fixture
def synthetic_demo(tmp_path):
    return make_synthetic_demo(str(tmp_path))
