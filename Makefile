# orderflow: an event-driven order pipeline on Apache Kafka.
#
#   make demo    install what is missing, build, start the stack and run the narrated demo
#   make test    everything CI needs, then the whole test suite
#   make up      start the local stack (Kafka, schema registry, SMTP); make down stops it
#
# Set KEEP=1 to leave the stack running after `make demo`.

CARGO        ?= cargo
TARGET_DIR   := $(or $(CARGO_TARGET_DIR),target)
ORDERFLOW    := $(TARGET_DIR)/release/orderflow
PYTHON       := .stack/venv/bin/python

.PHONY: deps build up down status demo test test-rust test-python lint fmt clean

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

test: build up lint test-rust test-python

test-rust:
	$(CARGO) test --release --locked --workspace

test-python:
	$(PYTHON) -m pytest -q tests/python

fmt:
	$(CARGO) fmt --all

clean: down
	rm -rf .stack .orderflow
