PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SANDBOX_DIR := sandbox/pyproject.toml
PLUGIN_DIRS := $(wildcard plugins/*/pyproject.toml)
EXAMPLE_DIRS := $(wildcard examples/*/pyproject.toml)
STAMP := $(VENV)/.installed

.PHONY: demo test test-stress lint venv bench clean redis-server constraints sdk-venv
.PHONY: chromium platform-demo postgresql docs secret-service

$(BIN)/python:
	@echo "creating $(VENV) (a virtual environment of $(PYTHON))"
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# constraints.txt pins every dependency to the versions the suite was run with, so CI (and a
# fresh clone) test exactly what was tested; `make constraints` records the current ones.
# The build backend's notes (setuptools' "Editable installation" banner for each flat-layout
# distribution) go to the log, shown only when the install fails.
INSTALL_LOG := $(VENV)/install.log

$(STAMP): $(BIN)/python pyproject.toml constraints.txt $(SANDBOX_DIR) $(PLUGIN_DIRS) $(EXAMPLE_DIRS)
	@echo "installing the project (editable) and its test dependencies into $(VENV) (log: $(INSTALL_LOG))"
	@{ $(BIN)/pip install --quiet -c constraints.txt --group dev -e '.[test]' $(foreach d,$(SANDBOX_DIR) $(PLUGIN_DIRS) $(EXAMPLE_DIRS),-e $(dir $(d))) && \
	  $(BIN)/pip install --quiet -c constraints.txt -e 'examples/platform[test]' -e 'plugins/sql_store[test]' \
	    -e 'plugins/keyring_store[test]' -e 'plugins/webull[grpc,test]'; } > $(INSTALL_LOG) 2>&1 \
	  || { cat $(INSTALL_LOG); echo "the install failed: the log above is $(INSTALL_LOG)"; exit 1; }
	touch $(STAMP)

# What `make packaging` builds with (pyproject.toml files ask for setuptools>=77).
BUILD_SETUPTOOLS := 84.2.1

constraints: $(STAMP)
	{ echo "# What \`make test\` (and so CI) installs: the tested versions of every dependency, tools included."; \
	  echo "# Regenerate with \`make constraints\` after changing a dependency; floors live in each pyproject.toml."; \
	  $(BIN)/pip freeze --exclude-editable | grep -v '^brokerauth'; \
	  echo "# The build environments' setuptools (python -m build, with PIP_CONSTRAINT)."; \
	  echo "setuptools==$(BUILD_SETUPTOOLS)"; \
	} > constraints.txt

DEMO_STAMP := $(VENV)/.installed-demo

# The demo needs the core, the test bench and the broker plugins only.
$(DEMO_STAMP): $(BIN)/python pyproject.toml constraints.txt $(SANDBOX_DIR) $(PLUGIN_DIRS)
	@echo "demo: installing brokerauth, its test bench and the broker plugins into $(VENV) (about half a minute the first time; pip's own progress follows)"
	$(BIN)/pip install --progress-bar on -c constraints.txt -e . -e sandbox $(foreach d,$(PLUGIN_DIRS),-e $(dir $(d)))
	touch $(DEMO_STAMP)

demo: $(DEMO_STAMP)
	$(BIN)/brokerauth demo

venv: $(STAMP)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/mypy core/brokerauth sandbox/brokerauth_sandbox $(dir $(wildcard plugins/*/brokerauth_*/__init__.py examples/*/brokerauth_*/__init__.py))

# The redis store's tests run a real redis-server on loopback: install Debian's package when it
# is missing (CI runs as root; elsewhere, run `sudo apt-get install redis-server` once).
redis-server:
	@command -v redis-server >/dev/null 2>&1 || { \
	  echo "redis-server is missing: installing Debian's package for the redis store's tests"; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server; }

# The SQL store's PostgreSQL back end (and its benchmark) run against a real server, started by
# brokerauth_sandbox.postgres: install Debian's package when no initdb is found (as root;
# elsewhere `sudo apt-get install postgresql` once).  Debian keeps initdb off PATH.
postgresql:
	@{ command -v initdb || ls /usr/lib/postgresql/*/bin/initdb; } >/dev/null 2>&1 || { \
	  echo "postgresql is missing: installing Debian's package for the SQL store's tests"; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql; }

# The keyring store's tests (and the test bench's Secret Service runner) run a real
# gnome-keyring on a private D-Bus session bus: Debian's packages, installed when missing
# (as root; elsewhere `sudo apt-get install gnome-keyring dbus-daemon dbus-bin
# libsecret-tools` once).  No desktop is needed: dbus-daemon for the bus, dbus-send to talk
# to it, gnome-keyring-daemon for the Secret Service, secret-tool as the tests' second client.
secret-service:
	@{ command -v gnome-keyring-daemon && command -v dbus-daemon && command -v dbus-send \
	   && command -v secret-tool; } >/dev/null 2>&1 || { \
	  echo "the Secret Service is missing: installing Debian's packages for the keyring store's tests"; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    gnome-keyring dbus-daemon dbus-bin libsecret-tools; }

# The platform example's browser test drives a real headless Chromium: Debian's browser and
# its driver, installed when missing (as root; elsewhere `sudo apt-get install chromium
# chromium-driver` once).
chromium:
	@{ command -v chromium && command -v chromedriver; } >/dev/null 2>&1 || { \
	  echo "chromium is missing: installing Debian's packages for the browser test"; \
	  DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver; }

# The Connect sandbox and the example platform app on free loopback ports; Ctrl-C stops both.
platform-demo: $(STAMP)
	$(BIN)/python -m brokerauth_platform.demo

# Webull's official SDK in an environment of its own, for the plugin's test that runs it against
# the sandbox: on Python 3.11 it needs cryptography<42, which the Redis store's floor excludes.
SDK_VENV := .sdk-venv
SDK_STAMP := $(SDK_VENV)/.installed

$(SDK_STAMP): constraints-sdk.txt
	test -x $(SDK_VENV)/bin/python || $(PYTHON) -m venv $(SDK_VENV)
	$(SDK_VENV)/bin/pip install --quiet -c constraints-sdk.txt '$(BENCH_SDK)'
	touch $(SDK_STAMP)

sdk-venv: $(SDK_STAMP)

test: lint test-wheels docs redis-server postgresql chromium secret-service $(SDK_STAMP)
	BROKERAUTH_WEBULL_SDK_PYTHON=$(abspath $(SDK_VENV))/bin/python \
	  $(BIN)/python -m pytest -q -m "not stress" --secret-canary

test-stress: $(STAMP)
	$(BIN)/python -m pytest -q -m stress

# Every distribution as PyPI would get it: each sdist, and its wheel built from it, checked
# with `twine check --strict`; the published wheels installed in a fresh environment with
# the pins of constraints.txt, where `brokerauth plugins`, `--help`, `python -m brokerauth
# --help` and `brokerauth demo` must pass (tools/packaging_check.sh, ~40 s on 2 cores).
.PHONY: packaging
packaging: $(STAMP)
	BUILD_PYTHON=$(abspath $(BIN))/python tools/packaging_check.sh

# Each distribution's own tests against its built wheel, not the tree: tools/packaging_check.sh
# builds and checks every sdist and wheel (all of `make packaging`), then each distribution gets
# a fresh environment with its wheel, its [test] extra and the wheels of this tree it needs
# (pins of constraints.txt), and its tests run from its unpacked sdist (tools/wheel_tests.sh,
# ~6.5 min on 2 cores, 2 of them the core's). It includes `make packaging`: no need for both.
.PHONY: test-wheels
test-wheels: $(STAMP) redis-server postgresql chromium secret-service $(SDK_STAMP)
	BROKERAUTH_WEBULL_SDK_PYTHON=$(abspath $(SDK_VENV))/bin/python \
	  BUILD_PYTHON=$(abspath $(BIN))/python tools/wheel_tests.sh

# Each distribution's tests in a fresh environment of its own, with only the core, the test
# bench, its local dependencies and its [test] extra: proof that each extra names what its
# tests need (tools/test_alone.sh). Slower than `make test`, so not part of it.
.PHONY: test-alone
test-alone: redis-server postgresql chromium secret-service $(SDK_STAMP)
	BROKERAUTH_WEBULL_SDK_PYTHON=$(abspath $(SDK_VENV))/bin/python PYTHON=$(PYTHON) tools/test_alone.sh

# The benchmark's own environment: the project plus the official Webull SDK it is measured
# against. The SDK is installed here only, never as a dependency of brokerauth. The redis store
# is left out: it needs cryptography>=42, which the SDK forbids on Python 3.11.
BENCH_VENV := .bench-venv
BENCH_BIN := $(BENCH_VENV)/bin
BENCH_STAMP := $(BENCH_VENV)/.installed
BENCH_SDK := webull-openapi-python-sdk==3.0.4
BENCH_PLUGINS := sandbox plugins/webull plugins/webull_connect plugins/futu examples/acme

# httpx for the adapter rows; sniffio because httpcore's async path imports it on every
# request and anyio no longer brings it (without it both async contenders pay failed imports).
BENCH_HTTPX := httpx==0.28.1 httpcore==1.0.9 anyio==4.16.0 h11==0.16.0 sniffio==1.3.1
# A regular install, not an editable one, as users have it: an editable install's import
# hooks run at every interpreter start and would count in the cold start's baseline.  It is
# made again whenever a source file of these distributions changes (pip reinstalls a local
# folder each time, replacing an editable install of the same name).
BENCH_SOURCES := $(shell git ls-files core sandbox $(BENCH_PLUGINS) 2>/dev/null | grep '\.py$$')

$(BENCH_STAMP): pyproject.toml $(foreach d,$(BENCH_PLUGINS),$(d)/pyproject.toml) $(BENCH_SOURCES)
	test -x $(BENCH_BIN)/python || $(PYTHON) -m venv $(BENCH_VENV)
	$(BENCH_BIN)/python -m pip install --quiet --upgrade pip
	# setuptools builds in the tree: a build/ left from before would carry removed modules.
	rm -rf build $(addsuffix /build,$(BENCH_PLUGINS))
	$(BENCH_BIN)/pip install --quiet '.[orjson]' $(addprefix ./,$(BENCH_PLUGINS)) '$(BENCH_SDK)' $(BENCH_HTTPX)
	touch $(BENCH_STAMP)

bench: $(BENCH_STAMP) $(STAMP) postgresql
	$(BENCH_BIN)/python bench/run.py

# The site is built by mkdocs in an environment of its own, .docs-venv, from the pinned
# requirements-docs.txt: the docs tools never touch .venv's pins (constraints.txt, which the
# suite checks). The generators (tools/docs_gen, run by mkdocs' hook at every build) read the
# installed plugins and commands, so they run with .venv's Python: hence the $(STAMP) prerequisite.
# Installing needs PyPI; the build itself fetches nothing (theme.font: false, no CDN assets).
DOCS_VENV := .docs-venv
DOCS_STAMP := $(DOCS_VENV)/.installed

$(DOCS_STAMP): requirements-docs.txt
	test -x $(DOCS_VENV)/bin/python || $(PYTHON) -m venv $(DOCS_VENV)
	$(DOCS_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(DOCS_VENV)/bin/pip install --quiet -r requirements-docs.txt
	touch $(DOCS_STAMP)

docs: $(STAMP) $(DOCS_STAMP)
	BROKERAUTH_DOCS_PYTHON=$(abspath $(BIN)/python) NO_MKDOCS_2_WARNING=1 \
	  $(DOCS_VENV)/bin/mkdocs build --strict --site-dir site
	@echo "site built: open site/index.html"

clean:
	rm -rf $(VENV) $(BENCH_VENV) $(SDK_VENV) $(DOCS_VENV) site
