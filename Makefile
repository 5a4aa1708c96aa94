# The README's two commands: `make run` (service on SQLite with the example rules and a
# demo tenant; `make run RUN_ARGS=--reset` issues new demo credentials) and `make test`
# (the whole suite). Both create .venv and install what they need.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-$(shell cat pyproject.toml setup.py | cksum | cut -d' ' -f1)

.PHONY: install run test lint bench clean

$(STAMP): pyproject.toml setup.py
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[test]'
	rm -f $(VENV)/.installed-* && touch $(STAMP)

install: $(STAMP)

# exec: the server replaces the recipe's shell, so Ctrl-C or SIGTERM reach it alone and it
# exits 0 (make then reports no error). The demo loads rules/ if it holds rule files, else
# the examples; SLUICE_RULES_DIR picks another folder.
run: $(STAMP)
	exec $(BIN)/sluice serve --demo $(RUN_ARGS)

test: $(STAMP)
	$(BIN)/python -m pytest -q $(PYTEST_ARGS)

lint: $(STAMP)
	$(BIN)/ruff check app tests bench
	$(BIN)/ruff format --check app tests bench
	$(BIN)/lint-imports
	$(BIN)/mypy

bench: $(STAMP)
	$(BIN)/python -m pip install -q --disable-pip-version-check -e '.[test,bench]'
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) .pytest_cache .hypothesis instance
