# Two commands on a fresh machine: `make serve` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NPM_STAMP := node_modules/.installed

.PHONY: serve test lint bench install clean

$(STAMP): pyproject.toml requirements.lock
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -c requirements.lock -e '.[dev]'
	touch $(STAMP)

$(NPM_STAMP): package.json package-lock.json
	npm ci --no-audit --no-fund --silent
	touch $(NPM_STAMP)

install: $(STAMP) $(NPM_STAMP)

serve: $(STAMP)
	$(BIN)/cds-service serve

test: $(STAMP) $(NPM_STAMP)
	$(BIN)/python -m pytest -q

lint: $(STAMP)
	$(BIN)/ruff check cds_service tests bench
	$(BIN)/ruff format --check cds_service tests bench
	$(BIN)/mypy --strict cds_service
	$(BIN)/lint-imports

bench: $(STAMP) $(NPM_STAMP)
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) node_modules
