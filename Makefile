# Two entry points: `make run` (install + kedro run) and `make test` (install + pytest).
# Everything lives in .venv/ inside the repo; re-installs only when pyproject.toml changes.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
export DO_NOT_TRACK := 1
export KEDRO_DISABLE_TELEMETRY := true

.PHONY: install run test viz bench protos lint clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

run: $(STAMP)
	$(BIN)/kedro run $(ARGS)

test: $(STAMP) lint
	$(BIN)/python -m pytest $(ARGS)

viz: $(STAMP)
	$(BIN)/kedro viz run --host 127.0.0.1 $(ARGS)

bench: $(STAMP)
	for b in benchmarks/bench_*.py; do $(BIN)/python $$b || exit 1; done

protos: $(STAMP)
	$(BIN)/python -m grpc_tools.protoc -Iprotos --python_out=src --pyi_out=src --grpc_python_out=src protos/rossmann/v1/forecast.proto

lint: $(STAMP)
	$(BIN)/ruff check src grpc_server tests benchmarks

clean:
	rm -rf $(VENV)
