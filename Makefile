# Two commands on a fresh machine with only Python: `make demo` and `make test`.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: demo test lint bench clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(BIN)/python -m pip install --quiet --disable-pip-version-check -e '.[test,export]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/atlassian-to-sqlite demo

test: $(STAMP)
	$(BIN)/ruff check pipeline tests benchmarks
	$(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check pipeline tests benchmarks
	$(BIN)/ruff format --check pipeline tests benchmarks

# where the sync stands (see benchmarks/bench.py); BENCH="small medium large" adds large
BENCH ?= small medium --body-kb 50
bench: $(STAMP)
	$(BIN)/python benchmarks/bench.py $(BENCH)
	$(BIN)/python -m pytest -m slow -s benchmarks

clean:
	rm -rf $(VENV) data/*.db data/*.db-* data/demo-attachments
