PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PLUGIN_DIRS := $(wildcard plugins/*/pyproject.toml)
EXAMPLE_DIRS := $(wildcard tests/plugins/*/pyproject.toml)
STAMP := $(VENV)/.installed

.PHONY: test test-stress lint typecheck venv clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml $(PLUGIN_DIRS) $(EXAMPLE_DIRS)
	$(BIN)/pip install --quiet -e '.[test]' $(foreach d,$(PLUGIN_DIRS) $(EXAMPLE_DIRS),-e $(dir $(d)))
	touch $(STAMP)

venv: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy core/brokerauth

test: lint
	$(BIN)/python -m pytest -q -m "not stress"

test-stress: $(STAMP)
	$(BIN)/python -m pytest -q -m stress

clean:
	rm -rf $(VENV)
