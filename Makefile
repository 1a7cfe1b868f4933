# orderflow: an event-driven order pipeline on Apache Kafka.
#
#   make demo    install what is missing, build, start the stack and run the narrated demo
#   make test    everything CI needs, then the whole test suite
#   make up      start the local stack (Kafka, schema registry, SMTP); make down stops it
#   make bench   the benchmark suite (BENCHMARKS.md); make bench-smoke is its quick form
#
# Set KEEP=1 to leave the stack running after `make demo`.

CARGO        ?= cargo
TARGET_DIR   := $(or $(CARGO_TARGET_DIR),target)
ORDERFLOW    := $(TARGET_DIR)/release/orderflow
PYTHON       := .stack/venv/bin/python

.PHONY: deps build up down status demo test test-rust test-python test-manifests test-asyncapi \
	test-contract bench bench-smoke lint fmt clean

deps:
	stack/stack.sh install

build: deps
	$(CARGO) build --release --locked

up: deps
	stack/stack.sh up

down:
	stack/stack.sh down

status:
	stack/stack.sh status

demo: build up
	@status=0; $(ORDERFLOW) demo || status=$$?; \
	if [ "$(KEEP)" != "1" ]; then stack/stack.sh down; fi; \
	exit $$status

lint:
	$(CARGO) fmt --all -- --check
	$(CARGO) clippy --release --locked --all-targets -- -D warnings

test: build test-manifests test-asyncapi up lint test-rust test-python test-contract bench-smoke

test-rust:
	$(CARGO) test --release --locked --workspace

test-python:
	$(PYTHON) -m pytest -q tests/python

# schemathesis against a live gateway: it answers as ingest/openapi.json says, and never 5xx.
test-contract:
	ORDERFLOW=$(ORDERFLOW) tests/contract/run.sh

# Renders k8s/overlays/* and validates every object offline (kustomize, kubeconform -strict).
test-manifests:
	ORDERFLOW_BIN=$(ORDERFLOW) stack/k8s-check.sh

# Validates docs/asyncapi.yaml against the AsyncAPI specification (tests/asyncapi.rs holds it
# to the code).
test-asyncapi:
	stack/asyncapi-check.sh

# Every benchmark, with the raw Kafka producer measured in the same run; results as JSON
# in bench-results/.
bench: build up
	$(ORDERFLOW) bench --scale full --out bench-results

# The same suite on a small scale, so that it never rots; its figures mean nothing.
bench-smoke: build up
	$(ORDERFLOW) bench --scale smoke --out .orderflow/bench-smoke

fmt:
	$(CARGO) fmt --all

clean: down
	rm -rf .stack .orderflow
