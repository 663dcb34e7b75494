# Two commands: `make run` (the service with demo data) and `make test` (the tests).
VENV ?= .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed-stamp
PG_URL ?= postgres://postgres@127.0.0.1:5432/test
REDIS_URL ?= redis://127.0.0.1:6379/0
TEST_WORKERS ?= 2
PYTEST_SUITE = $(PY) -m pytest -m "not slow" -n $(TEST_WORKERS) && $(PY) -m pytest -m slow -n $(TEST_WORKERS) --dist loadfile

.PHONY: install run serve test check test-sqlite test-services check-contract bench lint

$(STAMP): pyproject.toml
	python3 -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $(STAMP)

## The dashboard's charting library: npm installs what package-lock.json pins, then it is copied into
## static/vendor/ (git-ignored; nothing third-party is committed, nothing loads from a CDN).
VENDOR := static/vendor/echarts.min.js
$(VENDOR): package-lock.json
	npm ci --no-audit --no-fund
	mkdir -p static/vendor
	cp node_modules/echarts/dist/echarts.min.js node_modules/echarts/LICENSE static/vendor/
	touch $(VENDOR)

install: $(STAMP) $(VENDOR)

## run: web (http://127.0.0.1:8000), Celery worker and beat, on SQLite and an embedded broker unless
## DATABASE_URL / CELERY_BROKER_URL say otherwise; migrates and seeds the demo data first. Local settings
## with DEBUG on, both named here: without them the settings default to DEBUG off and the servers to production.
run: install
	export DJANGO_SETTINGS_MODULE="$${DJANGO_SETTINGS_MODULE:-capital_allocation.settings.base}" && \
	$(PY) manage.py migrate --noinput && \
	$(PY) manage.py seed_demo && \
	DEBUG="$${DEBUG:-true}" PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(VENV)/bin/honcho --procfile Procfile start

## serve: the production stack locally (deploy/serve.sh): granian (deploy/web.py, WEB_CONCURRENCY workers), a Celery worker
## and beat with the production settings, after migrate and collectstatic; on a SQLite file of its own and the
## embedded broker unless DATABASE_URL / CELERY_BROKER_URL say otherwise. See docs/runbook.md.
serve: install
	PY=$(PY) ./deploy/serve.sh

## test: the suite on SQLite and the embedded broker; with CI=true also on PostgreSQL and Redis. The
## tests that start nothing run on $(TEST_WORKERS) processes (pytest-xdist, a test database each), then the
## slow ones (real processes, the browser, the generated clients, the schema fuzz), a whole file per process.
test: install lint
	$(PYTEST_SUITE)
	@if [ "$$CI" = "true" ]; then $(MAKE) --no-print-directory test-services; fi

## check: the one-minute loop while writing code: lint, then every test but the slow ones (real processes,
## the browser, the generated clients, the schema fuzz: `-m slow` lists them). `make test` runs everything.
check: install lint
	$(PY) -m pytest -q -m "not slow" -n $(TEST_WORKERS)

## test-services: the suite on the real PostgreSQL and Redis (a missing server fails the run).
test-services: install
	export DATABASE_URL=$(PG_URL) CELERY_BROKER_URL=$(REDIS_URL) REQUIRE_SERVICES=postgres,redis && $(PYTEST_SUITE)

## lint: ruff's checks and its formatter (pinned in the dev extra); `make test` runs it first.
lint: install
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

bench: install
	$(PY) -m pip install --quiet -e ".[bench]"
	$(PY) bench/engine.py

check-contract: install
	$(PY) ../shared/contract/check
