# ollamaweb — `make run` serves the gateway and portal; `make test` runs the whole test suite.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
HOST ?= 127.0.0.1
PORT ?= 8000

.PHONY: run test lint install install-dev install-engine install-browser

$(VENV)/.runtime: requirements.txt
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements.txt
	touch $@

$(VENV)/.dev: requirements-dev.txt $(VENV)/.runtime
	$(PY) -m pip install --quiet --disable-pip-version-check -r requirements-dev.txt
	touch $@

install: $(VENV)/.runtime
install-dev: $(VENV)/.dev

# The optional embedded engine (real small models; the first build of llama.cpp takes ~4 minutes).
install-engine: install
	bash engine/install.sh $(PY)

# Debian's Chromium for the portal's browser tests (Playwright's own browser download cannot work
# offline). Needs root; without it the browser tests are skipped with a loud reason.
install-browser:
	@test -x /usr/bin/chromium || (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium) \
		|| echo "!!! could not install chromium: the browser tests will be skipped"

run: install
	$(PY) manage.py migrate --noinput -v0
	$(PY) manage.py collectstatic --noinput -v0
	$(PY) manage.py ensureadmin --url http://$(HOST):$(PORT)/
	HOST=$(HOST) PORT=$(PORT) bin/serve

TEST_POSTGRES_URL ?= postgres://postgres@127.0.0.1:5432/test

# The whole suite on SQLite and in-memory defaults, then the quota, rate-limit and stored-response
# tests again on PostgreSQL (Redis variants run in both). Services are started by .ci/run when missing.
test: install-dev install-engine install-browser
	$(PY) -m pytest
	@if $(PY) -m tests.services postgres; then \
		DATABASE_URL=$(TEST_POSTGRES_URL) $(PY) -m pytest -m "stores and not slow"; \
	else \
		echo "!!! SKIPPED: the quota tests on PostgreSQL, which cannot be reached (.ci/run starts it)"; \
	fi

lint: install-dev
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
