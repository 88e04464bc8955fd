# Two entry points on a fresh machine: `make demo` and `make test`. Both bootstrap first.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
SUBSTRATE := $(VENV)/bin/substrate
JOBS ?= 2

.PHONY: bootstrap demo test test-fast test-readme bench clean

bootstrap:
	@bash scripts/bootstrap.sh

demo: bootstrap
	@bash scripts/demo.sh

test: bootstrap
	@TRITON_INTERPRET=1 $(PY) -m pytest -n $(JOBS) -q --durations=15

# Everything except tests marked slow; handy while editing.
test-fast: bootstrap
	@TRITON_INTERPRET=1 $(PY) -m pytest -n $(JOBS) -q -m "not slow"

# The README's and docs' shell and Python blocks, run as written, one test per document (part of `make test`);
# DOC=docs/eval.md runs one document (and builds the documents it runs after).
test-readme: bootstrap
	@$(PY) -m pytest -n $(JOBS) -q -rs $(if $(DOC),"tests/test_readme.py::test_documents_run_as_written[$(DOC)]",tests/test_readme.py)

bench: bootstrap
	@for b in benchmarks/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean:
	rm -rf artifacts/*/ .pytest_cache .hypothesis
