# `make run` on a fresh machine: creates .venv, installs the pinned dependencies and runs
# the whole pipeline locally until Ctrl-C. `make test`: the same environment, then ruff,
# mypy, pip-audit, the python313 check and pytest.
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

.PHONY: venv run lint audit lock protos cost test unit integration e2e deploy-tests compat latency bench soak fuzz system-packages clean

$(STAMP): requirements.txt requirements-dev.txt
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements-dev.txt
	touch $@

venv: $(STAMP)

run: $(STAMP)
	$(BIN)/python -m localdev run

# Upload-to-thumbnail latency of the local pipeline (README's figures).
latency: $(STAMP)
	$(BIN)/python -m localdev.latency

# Speed, memory and quality against naive Pillow, libvips and the decode floor (bench/RESULTS.md).
bench: $(STAMP)
	$(BIN)/python -m bench

# The bill for a million uploads (docs/operations.md): CPU measured on the bench corpus,
# prices from bench/prices.json.
cost: $(STAMP)
	$(BIN)/python -m bench.cost measure

# 1,000 uploads through the local pipeline under injected faults, then the audit
# (soak/RESULTS.md and README's Reliability figures). `make test` runs a short form.
soak: $(STAMP)
	$(BIN)/python -m soak $(SOAK_ARGS)

# The fuzz test (tests/unit/test_fuzz.py) on a larger corpus of damaged files than `make test` runs.
FUZZ_CASES ?= 20000
fuzz: $(STAMP)
	FUZZ_CASES=$(FUZZ_CASES) $(BIN)/pytest tests/unit/test_fuzz.py

# Debian packages some tests need: chromium for the browser test (Playwright's own browser
# download cannot work here) and shellcheck for deploy.sh. Installed when missing and we
# may; otherwise the tests that need them say they were skipped, and why.
system-packages:
	@missing=""; \
	command -v chromium >/dev/null || missing="$$missing chromium"; \
	command -v shellcheck >/dev/null || missing="$$missing shellcheck"; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "installing Debian packages:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $$missing >/dev/null; \
	else \
		echo "missing:$$missing (sudo apt-get install$$missing); the tests that need them will be skipped"; \
	fi

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

# Known vulnerabilities of every locked package, from PyPI's advisory data via pip-audit: the
# locks as they are, nothing resolved. A vulnerability fails; so does PyPI unreachable. An
# accepted one is listed in audit-exceptions.txt, its reason on its line. A package whose
# version PyPI gives no data for is skipped by pip-audit: the last line says how many were
# not checked, and AUDIT_STRICT=1 makes that a failure.
AUDIT_IGNORES = $(shell sed -n -E 's/^([A-Za-z0-9._-]+).*/--ignore-vuln \1/p' audit-exceptions.txt)
audit: $(STAMP)
	@set -o pipefail; $(BIN)/pip-audit --require-hashes --disable-pip --progress-spinner off \
		$(if $(AUDIT_STRICT),--strict) $(AUDIT_IGNORES) \
		-r requirements.txt -r requirements-dev.txt -r requirements-tools.txt -r requirements-protos.txt | tee $(VENV)/audit.txt
	@skipped=$$(awk '/^Name +Skip Reason *$$/ {table = 1; getline; next} table && NF {n++} END {print n + 0}' $(VENV)/audit.txt); \
	if [ "$$skipped" -gt 0 ]; then \
		echo "audit: INCOMPLETE - $$skipped locked packages were NOT checked for vulnerabilities (PyPI gave no data for their version; see above)"; \
	fi

# requirements*.in are edited by hand; `make lock` compiles them into the hashed locks
# (requirements*.txt) with uv, pinned in requirements-tools.txt and installed in its own venv.
# One resolution for Python 3.11 and later on every platform, with the hash of every file PyPI
# has for each version (uv's index; it reads no pip.conf). Versions already locked are kept:
# LOCK_ARGS="--upgrade-package NAME" moves one.
TOOLS_VENV := .venv-tools
LOCK_COMPILE = $(TOOLS_VENV)/bin/uv pip compile --quiet --no-config --universal --python-version 3.11 \
	--generate-hashes --custom-compile-command "make lock" $(LOCK_ARGS)

$(TOOLS_VENV)/.installed: requirements-tools.txt
	$(PYTHON) -m venv $(TOOLS_VENV)
	$(TOOLS_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements-tools.txt
	touch $@

lock: $(TOOLS_VENV)/.installed
	$(LOCK_COMPILE) requirements-tools.in -o requirements-tools.txt
	$(LOCK_COMPILE) requirements.in -o requirements.txt
	$(LOCK_COMPILE) requirements-dev.in -o requirements-dev.txt
	$(LOCK_COMPILE) requirements-protos.in -o requirements-protos.txt

# Google's message definitions (monitoring, dashboards, logging), to check monitoring/*.json
# in tests/deploy; a venv of their own (see requirements-protos.in).
PROTOS_VENV := .venv-protos
$(PROTOS_VENV)/.installed: requirements-protos.txt
	$(PYTHON) -m venv $(PROTOS_VENV)
	$(PROTOS_VENV)/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements-protos.txt
	touch $@

protos: $(PROTOS_VENV)/.installed

test: lint audit compat system-packages protos
	$(BIN)/pytest

unit: $(STAMP)
	$(BIN)/pytest tests/unit

integration: $(STAMP)
	$(BIN)/pytest tests/integration

e2e: $(STAMP) system-packages
	$(BIN)/pytest tests/e2e

# deploy.sh with the real gcloud against the local stand-in for the Google APIs.
deploy-tests: $(STAMP) system-packages protos
	$(BIN)/pytest tests/deploy

$(VENV313)/.installed: requirements.txt
	$(PYTHON313) -m venv $(VENV313)
	$(VENV313)/bin/python -m pip install --quiet --disable-pip-version-check --require-hashes -r requirements.txt
	touch $@

ifeq ($(PYTHON313),)
compat:
	@echo "compat: SKIPPED - no python3.13 on this machine, so the python313 deploy runtime was not checked"
else
compat: $(VENV313)/.installed
	$(VENV313)/bin/python tests/compat/smoke.py
endif

clean:
	rm -rf $(VENV) $(VENV313) $(TOOLS_VENV) $(PROTOS_VENV) .mypy_cache .pytest_cache .ruff_cache .local
