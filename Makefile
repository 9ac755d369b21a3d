# storenode: `make run` and `make test` are the two set-up commands (see README).
PY ?= python3
VENV := .venv
BIN := $(VENV)/bin
DATA ?= var
STORE ?= demo-store
PORT ?= 8080
# PostgreSQL for the tests that run on both cloud backends: with this set they fail, not skip,
# when PostgreSQL is unreachable (CI sets it too).
STORENODE_TEST_PG ?= postgresql://postgres@127.0.0.1:5432/postgres
export STORENODE_TEST_PG

.PHONY: run test bench demo deps-test lint docs clean

$(BIN)/storenode: setup.cfg pyproject.toml
	$(PY) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.test-extras: $(BIN)/storenode
	$(BIN)/pip install -q -e '.[test]'
	touch $@

run: $(BIN)/storenode
	@if [ ! -f $(DATA)/edge.toml ]; then \
	  $(BIN)/storenode init --data-dir $(DATA) --store $(STORE) --port $(PORT) --demo && \
	  $(BIN)/storenode staff add manager --pin 1234 --role manager --data-dir $(DATA) && \
	  $(BIN)/storenode staff add cashier --pin 0000 --role cashier --data-dir $(DATA) && \
	  $(BIN)/storenode staff add kitchen --pin 1111 --role kitchen --data-dir $(DATA) && \
	  echo "demo staff: manager/1234, cashier/0000, kitchen/1111"; \
	fi
	$(BIN)/storenode run --data-dir $(DATA)

deps-test:
	bash scripts/install-test-deps.sh

test: $(VENV)/.test-extras deps-test
	$(BIN)/python -m pytest -q tests

bench: $(VENV)/.test-extras
	$(BIN)/python -m pytest -q -s -p no:randomly tests/bench -o addopts="-p no:cacheprovider"

# two stores, a real broker and HQ: a store is cut off, sells offline, comes back, HQ converges
demo: $(VENV)/.test-extras deps-test
	$(BIN)/python scripts/demo.py

lint: $(VENV)/.test-extras
	$(BIN)/lint-imports
	$(BIN)/mypy common sync drivers edge cloud

# the manual (docs/), built strictly: a broken link or a page missing from the nav fails
docs: $(VENV)/.test-extras
	$(BIN)/mkdocs build --strict

clean:
	rm -rf $(VENV) *.egg-info site
