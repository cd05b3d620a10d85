# Copyright 2026 The promptda_ros Authors
# SPDX-License-Identifier: Apache-2.0
#
# Two commands for a fresh machine:  `make demo`  and  `make test`.

VENV := .venv
BIN := $(VENV)/bin
OUT ?= out/demo
GRASP ?= out/grasp
GRASP_ARGS ?=
PYTEST_ARGS ?=
LINT_PATHS ?= .

.PHONY: setup demo test lint bench grasp clean help

help:
	@echo "make demo   set up .venv/ and run the bundled sample through the perception node -> $(OUT)/"
	@echo "make test   set up .venv/ and run the test suite (linters included)"
	@echo "make bench  print the speed / accuracy benchmarks"
	@echo "make grasp  record demos, train ACT-depth, score it in the simulator -> $(GRASP)/ (resumable)"
	@echo "make lint   ruff (ruff.toml) and the mypy ratchet (mypy.ini, scripts/mypy_ratchet.py)"
	@echo "make setup  only create or update .venv/"

setup:
	@bash scripts/setup_venv.sh

demo: setup
	$(BIN)/promptda-demo --out $(OUT)

test: setup
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_ARGS)

# Linters on an existing .venv/ (`make setup` first): ruff over LINT_PATHS, then mypy, whose
# error count may only go down (scripts/mypy_ratchet.py says how to lower its baseline).
lint:
	$(BIN)/ruff check --config ruff.toml $(LINT_PATHS)
	$(BIN)/python scripts/mypy_ratchet.py

# The grasping experiment in simulation (README "Grasping in simulation"): demos -> training ->
# closed-loop success; run it again after an interruption and it resumes.
grasp: setup
	$(BIN)/promptda-sim-pipeline --root $(GRASP) $(GRASP_ARGS)

bench: setup
	$(BIN)/python bench/bench_default_backend.py
	$(BIN)/python bench/bench_network.py

clean:
	rm -rf out build install log .pytest_cache .mypy_cache .ruff_cache
