# The commands of the README. Each one sets up the stack first (idempotent: seconds when
# everything is installed; a cold mmcv build takes ~8-12 minutes on 2 cores, onedl-mmcv's longer).
# LINE=onedl runs any of them on VBTI's onedl-* forks, in ./.venv-onedl unless VENV=DIR says
# otherwise (docs/openmmlab_lines.md); KDCL_PYTHON=python uses an existing environment.
LINE ?=
VENV ?= $(or $(KDCL_VENV),$(if $(filter onedl,$(LINE)),.venv-onedl,.venv))
PY ?= $(or $(KDCL_PYTHON),$(VENV)/bin/python)
INSTALL = KDCL_VENV=$(VENV) bash tools/install.sh $(if $(LINE),--line $(LINE))
# What shows that a line works, for CI's second line (the full suite runs by `make test`):
# import and install checks, every mmdet::/mmseg:: config resolving, KDCL pretraining end to
# end, the wheel's metadata, exact resume and preemption on the line's mmengine.
STACK_TESTS = tests/test_utils tests/test_configs tests/integration/test_kdcl_end_to_end.py \
	tests/integration/test_wheel_install.py tests/test_engine/test_runtime/test_exact_resume.py \
	tests/test_engine/test_runtime/test_preemption_hook.py

.PHONY: install install-lite demo demo-quick demo-full test test-fast test-stack lint

install:
	$(INSTALL)

install-lite:                  ## KDCL pretraining only: mmcv-lite instead of the mmcv build (minutes)
	$(INSTALL) --no-ops

# Each demo mode writes its own folder (work_dirs/demo, work_dirs/demo_quick, work_dirs/demo_full)
# and refuses to replace an earlier run's results there; OVERWRITE=1 replaces them, RESUME=1
# goes on with an interrupted run's (its finished runs are kept).
DEMO = PYTHON=$(PY) KDCL_OVERWRITE_FIX="run \`make $@ OVERWRITE=1\` to replace them, \
	\`make $@ RESUME=1\` to go on with them, or keep them and choose another folder with \
	\`bash tools/run_demo.sh --out-dir DIR\`" \
	bash tools/run_demo.sh $(if $(OVERWRITE),--overwrite) $(if $(RESUME),--resume)

demo: install                  ## the main job: the KDCL pipeline in miniature on shipped MNIST digits
	$(DEMO)

demo-quick: install            ## smoke test of the whole chain (what CI runs; numbers meaningless)
	$(DEMO) --quick

demo-full: install             ## the evidence (~1.6 h idle): 5 seeds, both students downstream on all
	$(DEMO) --full

test: install                  ## the whole test suite, slow end-to-end tests included (what CI runs)
	$(PY) -m pytest

test-fast: install
	$(PY) -m pytest -m "not slow"

test-stack: install            ## the line's part of the suite (CI runs it with LINE=onedl)
	$(PY) -m pytest $(STACK_TESTS)

lint: install                  ## what CI checks besides the tests (ruff: pyproject.toml [tool.ruff])
	$(PY) -m ruff check .
	$(PY) -m ruff format --check .
