# Two commands for a fresh machine with Python 3.11 and pip: `make demo` and `make test`.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV ?= .venv
BIN := $(VENV)/bin
DEMO_HOME ?= .mlsitter-demo
# Test files run in parallel (one file per worker at a time): most tests wait on servers and subprocesses,
# so three workers keep two cores busy; the suite takes about 10 minutes on two cores instead of 25.
TEST_WORKERS ?= 3

.PHONY: demo test install install-dev bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip

$(VENV)/.installed-all: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[all]'
	touch $@

$(VENV)/.installed-dev: pyproject.toml | $(BIN)/python
	$(BIN)/pip install --quiet -e '.[dev]'
	touch $@ $(VENV)/.installed-all

install: $(VENV)/.installed-all
install-dev: $(VENV)/.installed-dev

## make demo: install, then run the lifecycle on bundled bank-marketing data (two demo users approve production) and replay
## a later, drifted slice of traffic through the served model: drift fires, retraining runs, a canary follows.
demo: $(VENV)/.installed-all
	rm -rf $(DEMO_HOME)
	MLSITTER_HOME=$(DEMO_HOME) $(BIN)/python scripts/demo.py
	@echo "(with MLSITTER_HOME=$(DEMO_HOME); verify the journals: MLSITTER_HOME=$(DEMO_HOME) $(BIN)/mlsitter verify --all)"

## make test: install dev extras (and Chromium and PostgreSQL 15 for the browser and PostgreSQL journal tests,
## where possible), check the layers and the runtime's types, run the suite.
test: $(VENV)/.installed-dev
	-@if [ -f scripts/install-chromium.sh ]; then bash scripts/install-chromium.sh; fi
	-@if [ -f scripts/install-postgres.sh ]; then sh scripts/install-postgres.sh; fi
	$(BIN)/lint-imports
	$(BIN)/mypy
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile

bench: $(VENV)/.installed-dev
	for script in benchmarks/*.py; do case $$script in benchmarks/_*) ;; *) $(BIN)/python $$script || exit 1;; esac; done

clean:
	rm -rf $(VENV) $(DEMO_HOME) .pytest_cache test-output build *.egg-info src/*.egg-info
