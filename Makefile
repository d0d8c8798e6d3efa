# dactyl — two commands do everything on a fresh machine:
#   make demo   the main job (sim-in-the-loop demo on the bundled models)
#   make test   the test suite
# Both bootstrap .venv/ through `make setup`, which is idempotent and fast when nothing changed.

PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.setup-stamp
PACKAGES := $(wildcard ros2_ws/src/*/setup.py) training/setup.py
EDITABLE := $(foreach p,$(PACKAGES),-e $(dir $(p)))

export MUJOCO_GL ?= $(shell scripts/pick_gl_backend.sh)

.PHONY: setup demo test bench clean help

help:
	@echo "make demo   run the sim-in-the-loop demo (sets up .venv/ first)"
	@echo "make test   run the tests (sets up .venv/ first)"
	@echo "make bench  run the benchmarks that back the figures in the docs"
	@echo "make setup  create .venv/ with pinned dependencies and the project in editable mode"

setup: $(STAMP)

$(STAMP): requirements.txt $(PACKAGES) scripts/check_python.py scripts/setup_system.sh
	@$(PYTHON) scripts/check_python.py
	@scripts/setup_system.sh
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	@echo "[setup] installing pinned dependencies into $(VENV)/ (first run takes a few minutes)"
	@$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	@echo "[setup] installing the project's packages in editable mode"
	@$(PY) -m pip install --quiet --disable-pip-version-check --no-deps --no-build-isolation $(EDITABLE)
	@touch $(STAMP)
	@echo "[setup] done: $(VENV)/bin/dactyl --help lists the commands"

# The sim-in-the-loop graph on the bundled policy (models/policy_block.onnx): 10 trials, Table-3 row,
# results in out/demo.json, every topic recorded to MCAP (the path is printed).
demo: setup
	$(VENV)/bin/dactyl up --trials 10 --json out/demo.json

test: setup
	@scripts/run_tests.sh

bench: setup
	$(VENV)/bin/dactyl bench-sim
	$(VENV)/bin/dactyl bench-train
	$(VENV)/bin/dactyl bench-vision
	$(VENV)/bin/dactyl bench-graph --json out/bench_graph.json

clean:
	rm -rf $(VENV) build install log .pytest_cache
