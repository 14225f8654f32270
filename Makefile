# Two entry points: `make demo` (the main job) and `make test` (the whole test suite).
# Both create .venv when missing and install what they need; torch is pinned to the
# CPU wheel through constraints.txt so a fresh environment never pulls the CUDA build.

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
WHEELS := $(wildcard /opt/wheels)
PIP    := $(BIN)/python -m pip install --quiet --constraint constraints.txt $(if $(WHEELS),--find-links $(WHEELS))

.PHONY: demo test lint bench clean

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

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache .hypothesis
