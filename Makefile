# Stance Lab: `make demo` runs the main job, `make test` the tests. Both set up what they need.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
STUDIO_VENV := .venv-studio
STUDIO_STAMP := $(STUDIO_VENV)/.installed
LABEL_STUDIO_VERSION := 1.23.2
PYTEST_ARGS ?=

.PHONY: help setup sysdeps studio-venv demo test bench studio mlflow-ui clean

help:  ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-12s %s\n", $$1, $$2}'

$(STAMP): pyproject.toml
	@bash .ci/ensure-venv.sh $(PYTHON) $(VENV)
	$(BIN)/python -m pip install --upgrade --quiet pip
	$(BIN)/python -m pip install --progress-bar off -e .
	@touch $@

$(TEST_STAMP): $(STAMP)
	$(BIN)/python -m pip install --progress-bar off -e '.[test]'
	@touch $@

setup: $(TEST_STAMP)  ## create .venv and install the project with its test extras (Spark, pytest, Playwright)

sysdeps:  ## Debian packages the tests need (Chromium for the browser test, Java 17 for Spark)
	@bash .ci/sysdeps.sh

$(STUDIO_STAMP):
	@bash .ci/ensure-venv.sh $(PYTHON) $(STUDIO_VENV)
	$(STUDIO_VENV)/bin/python -m pip install --progress-bar off 'label-studio==$(LABEL_STUDIO_VERSION)'
	@touch $@

studio-venv: $(STUDIO_STAMP)  ## Label Studio in its own virtualenv (it pins many packages)

demo: $(STAMP)  ## the whole loop on the shipped sample data, no server needed
	$(BIN)/stance demo

test: $(TEST_STAMP) sysdeps studio-venv  ## all tests, including the slow ones with real servers
	$(BIN)/python -m pytest $(PYTEST_ARGS)

bench: $(TEST_STAMP) sysdeps studio-venv  ## run the benchmarks and rewrite docs/benchmarks.md
	$(BIN)/python -m tests.bench.run_all

# With a champion (models/champion, or a registered @champion), its ML backend starts beside
# Label Studio and connects itself once the project is up: predictions when tasks are listed or
# opened, retraining from annotations (configs/backend.yaml); without one, `stance label serve`
# says so and Label Studio runs alone. Ctrl-C stops both.
studio: $(STAMP) studio-venv  ## Label Studio for annotators (data/labelstudio/), plus the champion's ML backend when there is one
	@trap 'kill $$(jobs -p) 2>/dev/null; wait' INT TERM; \
	$(BIN)/python -m labeling.studio.server serve & \
	$(BIN)/stance label serve --connect & \
	wait

mlflow-ui: $(STAMP)  ## the MLflow UI on the project's tracking store (prints the runs address; Ctrl-C stops it)
	$(BIN)/stance runs ui --port 5000

clean:  ## remove the virtualenvs (data and models stay)
	rm -rf $(VENV) $(STUDIO_VENV)
