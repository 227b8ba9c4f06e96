# Two commands on a fresh machine: `make serve` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
NPM_STAMP := node_modules/.installed

.PHONY: serve test lint bench screenshot install clean

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

# Regenerate the README's sandbox image (tests write theirs to a temporary directory).
screenshot: $(STAMP) $(NPM_STAMP)
	CDS_DOCS_SCREENSHOT=$(CURDIR)/docs/sandbox-critical-card.png $(BIN)/python -m pytest -q \
		tests/integrator/test_sandbox_browser.py -k critical_fixture_renders

clean:
	rm -rf $(VENV) node_modules
