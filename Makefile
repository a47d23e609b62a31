# The two commands of the README. Each one sets up the stack first (idempotent: seconds
# when everything is installed; a cold mmcv build takes ~8-12 minutes on 2 cores).
PY ?= $(or $(KDCL_PYTHON),.venv/bin/python)

.PHONY: install demo demo-quick test test-fast

install:
	bash tools/install.sh

demo: install                  ## the main job: the KDCL pipeline in miniature on shipped MNIST digits
	PYTHON=$(PY) bash tools/run_demo.sh

demo-quick: install
	PYTHON=$(PY) bash tools/run_demo.sh --quick

test: install                  ## the whole test suite, slow end-to-end tests included (what CI runs)
	$(PY) -m pytest

test-fast: install
	$(PY) -m pytest -m "not slow"
