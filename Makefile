# The README's entry points. Each target creates .venv and installs the project on first use.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
FLASK := $(BIN)/flask --app wsgi
PG_URL ?= postgresql+psycopg://postgres@127.0.0.1:5432/test

.PHONY: serve test test-pg e2e bench bench-million bench-load lint audit chromium clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev,pg,worker]'
	touch $(STAMP)

serve: $(STAMP)
	$(FLASK) db upgrade
	$(FLASK) demo load --if-empty
	$(FLASK) run --host 127.0.0.1 --port 5000

# The suite runs on TEST_WORKERS processes (pytest-xdist), each with a database of its own
# (tests/conftest.py: a SQLite file per worker; on PostgreSQL the database <name>_gw0, _gw1, ...
# beside PG_URL's, created on first use). `logical` is one worker per CPU: on a 2-core machine
# shared with other work, the whole suite on PostgreSQL took 7.0 min on 2 workers and 9.7 on 3
# (one run each; about 15 serially).
# Whole files go to one worker (--dist loadfile): a file's module fixtures (a live server and
# Chromium, the demo book) are built once, and tests in a file may rely on the order they run
# in. TEST_WORKERS=0 runs serially; PYTEST_ARGS adds options or paths, e.g.
# make test PYTEST_ARGS="tests/web -x".
TEST_WORKERS ?= logical
PYTEST_ARGS ?=
PYTEST := $(BIN)/pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

test: $(STAMP)
	$(PYTEST)

test-pg: $(STAMP)
	TEST_DATABASE_URL=$(PG_URL) $(PYTEST)

chromium:
	@command -v chromium >/dev/null 2>&1 || test -x /usr/bin/chromium || \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium poppler-utils libharfbuzz-subset0)

e2e: $(STAMP) chromium
	$(BIN)/pytest tests/e2e

# Every benchmark but the load test, then the billing run at a million members (bench-million:
# its book is built once, about 20 minutes, and kept).
bench: $(STAMP)
	@for f in bench/*.py; do [ -e "$$f" ] || continue; case $$f in */_*|bench/load.py) continue;; esac; echo "== $$f"; $(BIN)/python $$f || exit 1; done
	$(MAKE) bench-million

# The billing run at scale: a book of 1 million members (5,000 groups, about 2.9 million lines)
# billed on one, two and three RQ workers (Redis). The set-up takes several minutes, so the book
# is kept between runs (database bench_million) and each run is timed on a fresh copy of it.
bench-million: $(STAMP)
	BENCH_DATABASE_URL=$${BENCH_MILLION_DATABASE_URL:-postgresql+psycopg://postgres@127.0.0.1:5432/bench_million} \
	  $(BIN)/python bench/billing_run.py --members 1000000 --workers 1,2,3 --keep-book

# The load test (bench/load.py: gunicorn, PostgreSQL and locust on this machine, a few minutes)
# has its own target: the `load` extra (locust) is installed for it only, never for `make test`.
# Options through LOAD_ARGS, e.g. make bench-load LOAD_ARGS="--duration 30s --users 20".
LOAD_STAMP := $(VENV)/.load-stamp
LOAD_ARGS ?=
$(LOAD_STAMP): $(STAMP) pyproject.toml
	$(BIN)/python -m pip install --quiet -e '.[dev,pg,worker,load]'
	touch $(LOAD_STAMP)

bench-load: $(LOAD_STAMP)
	$(BIN)/python bench/load.py $(LOAD_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check billing_core portal admin tests
	$(BIN)/bandit -q -c pyproject.toml -r billing_core portal admin

# pip-audit looks the installed packages up in PyPI's advisory data. First a quick probe that
# the source answers with advisory data for a release it must know (a mirror or a proxy without
# it answers "not found" for every package, and pip-audit would then report nothing found):
# without such an answer within AUDIT_TIMEOUT seconds the audit is skipped with a message.
AUDIT_TIMEOUT ?= 10
AUDIT_PROBE := import json, urllib.request; \
  url = "https://pypi.org/pypi/pip/24.0/json"; \
  assert "vulnerabilities" in json.load(urllib.request.urlopen(url, timeout=$(AUDIT_TIMEOUT)))
audit: $(STAMP)
	@if timeout $$(( $(AUDIT_TIMEOUT) + 5 )) $(BIN)/python -c '$(AUDIT_PROBE)' >/dev/null 2>&1; then \
	  $(BIN)/pip-audit --progress-spinner off --skip-editable --timeout $(AUDIT_TIMEOUT); \
	else \
	  echo "make audit: skipped: PyPI's advisory data did not answer within $(AUDIT_TIMEOUT) s" \
	    "(no network?); run it where it does"; \
	fi

clean:
	rm -rf $(VENV) instance .pytest_cache .ruff_cache
