# otelfuse — developer entry points. Every target does its own set-up.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: native compile system-deps run test test-fast test-soak test-fuzz lint typecheck check proto bench stack stack-down clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip
	$(PY) -m pip install -q -e '.[dev]'
	touch $(STAMP)

# The span mapping compiled with mypyc (ingest/mapping/native.py). `build` itself knows its
# sources and rebuilds only when their digest changed (a no-op in ~0.5 s otherwise). Without a
# C compiler it builds nothing and the mapping runs as pure Python.
native: $(STAMP)
	@$(PY) -m ingest.mapping.build build

## compile: compile the span mapping with mypyc (optional; see docs/operations.md "Compiled span mapping")
compile: $(STAMP)
	$(PY) -m ingest.mapping.build build
	$(PY) -m ingest.mapping.build status

## run: start otelfuse in all-in-one mode (gRPC :4317, HTTP :4318, data in ./data)
run: $(STAMP) native
	$(VENV)/bin/otelfuse run

## system-deps: Debian packages the tests run for real (promtool, clickhouse-server, postgresql)
system-deps:
	deploy/local/system-deps.sh

## test: the whole test suite (real clients against the running service)
test: $(STAMP) native system-deps
	$(PY) -m pytest

## test-fast: unit and golden tests, no external process (tests marked `service` left out)
test-fast: $(STAMP) native
	OTELFUSE_TEST_FAST=1 $(PY) -m pytest -q -m 'not soak and not service and not fuzz'

## test-soak: long load tests left out of `make test`
test-soak: $(STAMP)
	$(PY) -m pytest -m soak

## test-fuzz: the long fuzz budget (tests/fuzz/README.md; OTELFUSE_FUZZ_EXAMPLES per property)
test-fuzz: $(STAMP)
	$(PY) -m pytest -q -m fuzz tests/fuzz

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

typecheck: $(STAMP)
	$(VENV)/bin/mypy

check: lint typecheck test

## proto: regenerate storage/_pb from proto/
proto: $(STAMP)
	$(PY) -m grpc_tools.protoc -I proto --python_out=storage/_pb --pyi_out=storage/_pb proto/otelfuse/v1/records.proto

## stack: the scale-out roles as separate processes with a local Kafka-API broker (tansu)
stack: $(STAMP) native
	$(PY) deploy/local/stack.py up

## stack-down: stop what `make stack` started
stack-down: $(STAMP)
	$(PY) deploy/local/stack.py down

## bench: load benchmark against a fresh all-in-one instance (see bench/README.md)
bench: $(STAMP) native
	$(PY) -m bench.run_ingest

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache ingest/mapping/_compiled
