# Two entry points: `make demo` (the main job) and `make test` (the whole test suite).
# Both create .venv when missing and install what they need; torch is pinned to the
# CPU wheel through constraints.txt so a fresh environment never pulls the CUDA build.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
WHEELS := $(wildcard /opt/wheels)
PIP    := $(BIN)/python -m pip install --quiet --constraint constraints.txt $(if $(WHEELS),--find-links $(WHEELS))

.PHONY: demo test lint bench clean docs

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# The main job's dependencies (core package).
$(VENV)/.installed-demo: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) -e .
	@touch $@

# Everything, plus the test tools and the system packages tests use.
$(VENV)/.installed-test: pyproject.toml constraints.txt | $(BIN)/python
	$(PIP) -e ".[all,dev]"
	@touch $@

# Headless Chromium renders the HTML report in the browser test (Debian package).
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
.PHONY: system-deps
system-deps:
	@command -v chromium >/dev/null 2>&1 || { \
		echo "installing chromium (Debian package) for the report's browser test"; \
		$(SUDO) apt-get update -q && $(SUDO) apt-get install -y -q chromium; }

# The documentation site's tools: pyproject's "docs" extra alone (mkdocstrings reads the
# sources statically, so the site needs neither the package nor torch); the build is offline.
DOCS_EXTRA := import sys, subprocess; \
	from importlib import import_module as m; \
	toml = m("tomllib" if sys.version_info >= (3, 11) else "tomli"); \
	extra = toml.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["docs"]; \
	subprocess.check_call([sys.executable, "-m", "pip", "install", "--quiet", *extra])
$(VENV)/.installed-docs: pyproject.toml | $(BIN)/python
	$(BIN)/python -c '$(DOCS_EXTRA)'
	@touch $@

demo: $(VENV)/.installed-demo
	$(BIN)/robustlaw demo

test: $(VENV)/.installed-test system-deps
	$(BIN)/ruff check src tests $(wildcard bench examples)
	$(BIN)/python -m pytest -n auto --dist loadgroup

lint: $(VENV)/.installed-test
	$(BIN)/ruff check src tests $(wildcard bench examples)
	$(BIN)/ruff format --check src tests $(wildcard bench examples)

bench: $(VENV)/.installed-test
	@for f in bench/*.py; do echo "== $$f"; $(BIN)/python $$f || exit 1; done

# The site in site/, warnings as errors.
docs: $(VENV)/.installed-docs
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --site-dir site

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis site
