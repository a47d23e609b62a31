# The two commands of the README. Each one sets up the stack first (idempotent: seconds
# when everything is installed; a cold mmcv build takes ~8-12 minutes on 2 cores).
PY ?= $(or $(KDCL_PYTHON),.venv/bin/python)

.PHONY: install install-lite demo demo-quick demo-full test test-fast lint

install:
	bash tools/install.sh

install-lite:                  ## KDCL pretraining only: mmcv-lite instead of the mmcv build (minutes)
	bash tools/install.sh --no-ops

demo: install                  ## the main job: the KDCL pipeline in miniature on shipped MNIST digits
	PYTHON=$(PY) bash tools/run_demo.sh

demo-quick: install            ## smoke test of the whole chain (what CI runs; numbers meaningless)
	PYTHON=$(PY) bash tools/run_demo.sh --quick

demo-full: install             ## the evidence (~1 h): 5 seeds, both students downstream
	PYTHON=$(PY) bash tools/run_demo.sh --full --out-dir work_dirs/demo_full

test: install                  ## the whole test suite, slow end-to-end tests included (what CI runs)
	$(PY) -m pytest

test-fast: install
	$(PY) -m pytest -m "not slow"

lint: install                  ## what CI checks besides the tests (ruff: pyproject.toml [tool.ruff])
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
