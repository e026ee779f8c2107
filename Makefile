# `make run` on a fresh machine: creates .venv, installs the pinned dependencies and runs
# the whole pipeline locally until Ctrl-C. `make test`: the same environment, then ruff,
# mypy and pytest.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

# The deploy runtime is python313: `make compat` installs requirements.txt alone
# under Python 3.13 (when the machine has it) and smoke-tests the function there.
# (pyenv's python3.13 shim exists even where 3.13 is not active: look behind it too.)
PYTHON313 ?= $(shell for candidate in python3.13 $$(pyenv root 2>/dev/null)/versions/3.13*/bin/python3.13; do \
	"$$candidate" -c pass >/dev/null 2>&1 && { command -v "$$candidate"; break; }; done)
VENV313 := .venv313

.PHONY: venv run lint test unit integration e2e compat latency clean

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

venv: $(STAMP)

run: $(STAMP)
	$(BIN)/python -m localdev run

# Upload-to-thumbnail latency of the local pipeline (README's figures).
latency: $(STAMP)
	$(BIN)/python -m localdev.latency

# The browser test drives Debian's Chromium (Playwright's own browser download cannot
# work here). Installed when missing and we may; otherwise that test says it is skipped.
CHROMIUM := /usr/bin/chromium
$(CHROMIUM):
	@if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian's chromium for the browser test"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends chromium >/dev/null; \
	else \
		echo "chromium is missing and cannot be installed here (sudo apt-get install chromium): the browser test will be skipped"; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

test: lint compat $(CHROMIUM)
	$(BIN)/pytest

unit: $(STAMP)
	$(BIN)/pytest tests/unit

integration: $(STAMP)
	$(BIN)/pytest tests/integration

e2e: $(STAMP) $(CHROMIUM)
	$(BIN)/pytest tests/e2e

$(VENV313)/.installed: requirements.txt
	$(PYTHON313) -m venv $(VENV313)
	$(VENV313)/bin/python -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

ifeq ($(PYTHON313),)
compat:
	@echo "compat: SKIPPED - no python3.13 on this machine, so the python313 deploy runtime was not checked"
else
compat: $(VENV313)/.installed
	$(VENV313)/bin/python tests/compat/smoke.py
endif

clean:
	rm -rf $(VENV) $(VENV313) .mypy_cache .pytest_cache .ruff_cache .local
