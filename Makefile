# The course's commands. Each sets up .venv from pyproject.toml first when needed (python3 and make suffice).
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed-stamp

.PHONY: help setup demo test lab release course clean

help:
	@echo "make demo     train Pix2Pix headless on synthetic facades, write build/demo/"
	@echo "make test     the whole test suite (fast mode)"
	@echo "make lab      JupyterLab on notebooks/"
	@echo "make release  regenerate notebooks/ from solutions/ with nbgrader"
	@echo "make course DIR=d   an nbgrader course directory in d (source/<assignment>/, nbgrader_config.py)"
	@echo "make clean    remove build/ and .venv/"

setup: $(STAMP)

# Re-install whenever pyproject.toml changes; a half-made venv is removed so the next run starts clean.
$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; assert sys.version_info >= (3, 10), "Python 3.10 or newer is needed, found " + sys.version.split()[0]'
	@test -x $(PY) || $(PYTHON) -m venv $(VENV) || (rm -rf $(VENV); exit 1)
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[dev]" || (rm -f $(STAMP); exit 1)
	@touch $(STAMP)

demo: $(STAMP)
	$(PY) -m course_utils.notebooks demo

# Two pytest workers (pytest-xdist), each test file and each notebook whole on one of them: most of the suite is
# one process waiting on a kernel. Files are handed out in collection order, where tests/conftest.py puts the
# slowest first. TEST_WORKERS=auto uses every core; TEST_WORKERS=0 runs in this process.
TEST_WORKERS ?= 2

test: $(STAMP)
	$(VENV)/bin/ruff check course_utils tests benchmarks
	COURSE_FAST=1 $(PY) -m pytest tests solutions --nbval-lax --nbval-current-env --nbval-cell-timeout=300 \
		-n $(TEST_WORKERS) --dist loadfile --no-loadscope-reorder

lab: $(STAMP)
	$(VENV)/bin/jupyter lab notebooks

release: $(STAMP)
	$(PY) -m course_utils.release

course: $(STAMP)
	@test -n "$(DIR)" || (echo "usage: make course DIR=path/to/course" >&2; exit 2)
	$(PY) -m course_utils.release --course "$(DIR)"

clean:
	rm -rf build $(VENV)
