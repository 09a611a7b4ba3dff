# One command to run the exchange, one to test it. Everything else is set up on the way.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HASH := $(shell sha1sum pyproject.toml | cut -c1-12)
# what running needs (make run), and the test tools on top of it (make test)
STAMP := $(VENV)/.installed-run-$(HASH)
TEST_STAMP := $(VENV)/.installed-test-$(HASH)

.PHONY: run test test-unit test-integration test-e2e lint typecheck coverage-core bench clean-var help

help:
	@echo "make run    - set up and run the exchange on http://127.0.0.1:8000 (embedded PostgreSQL and Redis)"
	@echo "make test   - set up and run every test, type check and lint"
	@echo "make bench  - run the benchmarks and rewrite the README's table with their figures"

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11 or newer is required")'
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e .
	rm -f $(VENV)/.installed-run-*
	touch $(STAMP)

$(TEST_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -e '.[test]'
	rm -f $(VENV)/.installed-test-*
	touch $(TEST_STAMP)

# The demo is a sandbox: one day passes per minute (EXCHANGE_ACCELERATION=1440) unless set otherwise.
run: $(STAMP)
	EXCHANGE_ACCELERATION=$${EXCHANGE_ACCELERATION:-1440} $(BIN)/exchange run

test: $(TEST_STAMP) lint typecheck coverage-core test-integration test-e2e

test-unit: $(TEST_STAMP)
	$(BIN)/python -m pytest tests/unit -q

coverage-core: $(TEST_STAMP)
	$(BIN)/python -m coverage run --branch --source=matching_core -m pytest tests/unit -q
	$(BIN)/python -m coverage report --include='matching_core/*' --fail-under=100 --show-missing --skip-covered

test-integration: $(TEST_STAMP)
	$(BIN)/python -m pytest tests/integration -q

test-e2e: $(TEST_STAMP)
	$(BIN)/python -m pytest tests/e2e -q

lint: $(TEST_STAMP)
	$(BIN)/ruff check matching_core exchange web tests loadtests

typecheck: $(TEST_STAMP)
	$(BIN)/mypy

BENCH_OUT := var/bench

bench: $(STAMP)
	mkdir -p $(BENCH_OUT)
	$(BIN)/exchange bench core --json > $(BENCH_OUT)/core.json && cat $(BENCH_OUT)/core.json
	$(BIN)/exchange bench hotlot --seconds 5 --json > $(BENCH_OUT)/hotlot.json && cat $(BENCH_OUT)/hotlot.json
	$(BIN)/exchange bench http --json > $(BENCH_OUT)/http.json && cat $(BENCH_OUT)/http.json
	$(BIN)/exchange bench mixed --json > $(BENCH_OUT)/mixed.json && cat $(BENCH_OUT)/mixed.json
	$(BIN)/exchange bench restart --json > $(BENCH_OUT)/restart.json && cat $(BENCH_OUT)/restart.json
	$(BIN)/exchange bench fanout --watchers 1000 --duration 8 --json > $(BENCH_OUT)/fanout-1000.json && cat $(BENCH_OUT)/fanout-1000.json
	$(BIN)/exchange bench fanout --watchers 5000 --duration 8 --json > $(BENCH_OUT)/fanout-5000.json && cat $(BENCH_OUT)/fanout-5000.json
	$(BIN)/exchange bench transport --json > $(BENCH_OUT)/transport.json && cat $(BENCH_OUT)/transport.json
	$(BIN)/exchange bench readme $(BENCH_OUT) README.md

clean-var:
	rm -rf var
