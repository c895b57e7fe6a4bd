# kehu — two commands: `make demo` and `make test`.
PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
HOST   ?= 127.0.0.1
PORT   ?= 8000
CUSTOMERS ?= 2000
PG_URL ?= postgres://postgres@127.0.0.1:5432/kehu
PYTEST_ARGS ?= --durations=15
# Test processes: a fifth of the time a worker waits on what it started (a live server, Chromium, Spark's JVM,
# a `kehu` subprocess), so one more worker than cores keeps both cores busy (2 cores, SQLite pass: 586 s with 2
# workers, 487 s with 3).
WORKERS ?= 3
RESET ?=

.PHONY: demo run test test-sqlite test-postgres lint bench install

$(BIN)/python:
	@command -v $(PYTHON) >/dev/null 2>&1 || { echo "需要 Python 3.11 (python3.11 not found; set PYTHON=...)"; exit 1; }
	$(PYTHON) -m venv $(VENV)

$(STAMP): $(BIN)/python pyproject.toml
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e ".[test]"
	@touch $(STAMP)

install: $(STAMP)

# `kehu serve` starts its background worker (web imports) beside itself; --no-worker when one runs apart.
demo: $(STAMP)
	$(BIN)/kehu init
	$(BIN)/kehu demo --customers $(CUSTOMERS) $(if $(RESET),--reset,--keep)
	$(BIN)/kehu serve --host $(HOST) --port $(PORT)

run: $(STAMP)
	$(BIN)/kehu init
	$(BIN)/kehu serve --host $(HOST) --port $(PORT)

# The whole suite on SQLite; again on PostgreSQL when KEHU_TEST_POSTGRES is set.
test: $(STAMP)
	$(BIN)/ruff check .
	$(BIN)/kehu makemigrations --check --dry-run
	$(BIN)/pytest -n $(WORKERS) --dist worksteal $(PYTEST_ARGS)
	@if [ -n "$$KEHU_TEST_POSTGRES" ]; then \
	  echo "== PostgreSQL =="; \
	  KEHU_DATABASE_URL=$${KEHU_TEST_DATABASE_URL:-$(PG_URL)} $(BIN)/pytest -n $(WORKERS) --dist worksteal $(PYTEST_ARGS); \
	fi

lint: $(STAMP)
	$(BIN)/ruff check .

bench: $(STAMP)
	$(BIN)/python bench/archive.py
