PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PLUGIN_DIRS := $(wildcard plugins/*/pyproject.toml)
EXAMPLE_DIRS := $(wildcard examples/*/pyproject.toml)
STAMP := $(VENV)/.installed

.PHONY: demo test test-stress lint venv clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(STAMP): $(BIN)/python pyproject.toml $(PLUGIN_DIRS) $(EXAMPLE_DIRS)
	$(BIN)/pip install --quiet -e '.[test]' $(foreach d,$(PLUGIN_DIRS) $(EXAMPLE_DIRS),-e $(dir $(d)))
	touch $(STAMP)

DEMO_STAMP := $(VENV)/.installed-demo

# The demo needs the core and the broker plugins only.
$(DEMO_STAMP): $(BIN)/python pyproject.toml $(PLUGIN_DIRS)
	$(BIN)/pip install --quiet -e . $(foreach d,$(PLUGIN_DIRS),-e $(dir $(d)))
	touch $(DEMO_STAMP)

demo: $(DEMO_STAMP)
	$(BIN)/brokerauth demo

venv: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy core/brokerauth

test: lint
	$(BIN)/python -m pytest -q -m "not stress" --secret-canary

test-stress: $(STAMP)
	$(BIN)/python -m pytest -q -m stress

clean:
	rm -rf $(VENV)
