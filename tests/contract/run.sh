#!/usr/bin/env bash
# Holds the gateway to its contract: starts `orderflow run` on the local stack, on a topic
# namespace and port of its own, and runs schemathesis against the OpenAPI document the gateway
# serves (ingest/openapi.json). It fails on any 5xx, and on any status, content type, header or
# body the document does not describe.
#
#   tests/contract/run.sh            what `make test-contract` runs
#   CONTRACT_SEED=7 tests/contract/run.sh        another fixed seed
#   CONTRACT_SEED=random tests/contract/run.sh   a new seed, printed, to explore further
#   CONTRACT_MAX_EXAMPLES=200 tests/contract/run.sh
#
# Like the integration tests, it skips with a loud message when the stack is not running, and
# fails instead when CI is set.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
ORDERFLOW=${ORDERFLOW:-${CARGO_TARGET_DIR:-$ROOT/target}/release/orderflow}
SCHEMATHESIS=$ROOT/.stack/venv/bin/schemathesis
PYTHON=$ROOT/.stack/venv/bin/python
LOGS=$ROOT/target/test-logs

# A fixed seed by default, so that a failure in CI is the same failure on a developer's
# machine; the server's answers (ids, timing) still vary, so runs are close to, not exactly,
# the same.
SEED=${CONTRACT_SEED:-20261203}
# Test cases per operation and phase (examples, coverage, fuzzing, stateful): about 3,500
# requests to 14 operations, some 50 s on two cores.
MAX_EXAMPLES=${CONTRACT_MAX_EXAMPLES:-200}
CHECKS=not_a_server_error,status_code_conformance,content_type_conformance
CHECKS=$CHECKS,response_headers_conformance,response_schema_conformance
# How long the gateway may take to answer after start-up (topics, schemas, views), in seconds.
START_TIMEOUT_SECS=90

say() { printf 'contract: %s\n' "$*"; }
fail() { printf 'contract: FAILED: %s\n' "$*" >&2; exit 1; }

answers() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

require_stack() {
  local missing=()
  answers 9092 || missing+=("Kafka at 127.0.0.1:9092")
  answers 8081 || missing+=("schema registry at 127.0.0.1:8081")
  [ ${#missing[@]} -eq 0 ] && return 0
  local message
  message="the local stack is not running (missing: ${missing[*]}); start it with \`make up\`"
  [ -n "${CI:-}" ] && fail "$message"
  printf '\n!!!!!!!! SKIPPED contract test: %s !!!!!!!!\n\n' "$message" >&2
  exit 0
}

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])'
}

GATEWAY_PID=
WORK=
stop_gateway() {
  [ -n "$GATEWAY_PID" ] || return 0
  kill -TERM "$GATEWAY_PID" 2>/dev/null || true
  # `orderflow run` drains requests in flight and commits before it exits.
  for _ in $(seq 1 50); do
    kill -0 "$GATEWAY_PID" 2>/dev/null || break
    sleep 0.2
  done
  kill -KILL "$GATEWAY_PID" 2>/dev/null || true
  wait "$GATEWAY_PID" 2>/dev/null || true
  GATEWAY_PID=
}
clean_up() {
  stop_gateway
  if [ -n "$WORK" ]; then rm -rf "$WORK"; fi
}
trap clean_up EXIT

await_gateway() {
  local base=$1 log=$2 deadline=$((SECONDS + START_TIMEOUT_SECS))
  # The gateway answers (404: no such stock level yet) once its views and producer are up.
  until curl -s -o /dev/null --max-time 2 "$base/v1/inventory/contract-probe"; do
    kill -0 "$GATEWAY_PID" 2>/dev/null || fail "orderflow exited during start-up; see $log"
    [ $SECONDS -lt $deadline ] ||
      fail "the gateway did not answer within ${START_TIMEOUT_SECS} s; see $log"
    sleep 0.5
  done
}

main() {
  require_stack
  case $ORDERFLOW in /*) ;; *) ORDERFLOW=$PWD/$ORDERFLOW ;; esac
  [ -x "$ORDERFLOW" ] || fail "no orderflow binary at $ORDERFLOW; run \`make build\`"
  [ -x "$SCHEMATHESIS" ] || fail "schemathesis is not installed in .stack/venv; run \`make deps\`"
  if [ "$SEED" = random ]; then SEED=$RANDOM$RANDOM; fi

  local namespace port base key log
  namespace=contract-$(python3 -c 'import uuid; print(uuid.uuid4().hex[:12])')
  port=$(free_port)
  base=http://127.0.0.1:$port
  key=contract-$(python3 -c 'import secrets; print(secrets.token_hex(16))')
  WORK=$(mktemp -d)
  mkdir -p "$LOGS"
  log=$LOGS/$namespace-run.log

  # Its own namespace, ports (the operations endpoints on a free one) and state folders, so
  # that it runs beside any other pipeline; webhooks to loopback are allowed, as in the demo.
  say "starting orderflow run on $base, namespace $namespace (log: $log)"
  ORDERFLOW_NAMESPACE=$namespace \
  ORDERFLOW_TOPICS__ORDER_PARTITIONS=3 \
  ORDERFLOW_TOPICS__SKU_PARTITIONS=3 \
  ORDERFLOW_GATEWAY__LISTEN=127.0.0.1:$port \
  ORDERFLOW_GATEWAY__STATE_DIR=$WORK/gateway \
  ORDERFLOW_PROCESSORS__STATE_DIR=$WORK/state \
  ORDERFLOW_NOTIFICATIONS__OUTBOX_DIR=$WORK/outbox \
  ORDERFLOW_GATEWAY__API_KEYS="[{name=\"contract\", key=\"$key\"}]" \
  ORDERFLOW_WEBHOOKS__ALLOWED_NETWORKS='["127.0.0.0/8"]' \
  ORDERFLOW_OPS__LISTEN=127.0.0.1:0 \
  RUST_LOG=${RUST_LOG:-info,librdkafka=warn} \
    "$ORDERFLOW" run >/dev/null 2>"$log" &
  GATEWAY_PID=$!
  await_gateway "$base" "$log"
  # The binary embeds the document it serves; one built before the last edit tests old text.
  curl -s --max-time 5 "$base/openapi.json" | cmp -s - "$ROOT/ingest/openapi.json" ||
    fail "$ORDERFLOW serves another /openapi.json than ingest/openapi.json; run \`make build\`"
  cp "$ROOT/tests/contract/schemathesis.toml" "$WORK/"
  "$PYTHON" "$ROOT/tests/contract/seed.py" "$base" "$key" "$WORK" ||
    fail "could not seed the gateway with orders and a subscription; see $log"

  say "schemathesis against $base/openapi.json, seed $SEED," \
    "at most $MAX_EXAMPLES examples per operation and phase"
  local started=$SECONDS status=0
  # One worker: schemathesis' generators are not safe to run in threads on CPython 3.11
  # ("AST constructor recursion depth mismatch", CPython gh-106905). Run from the scratch
  # folder, where schemathesis keeps its cache of crashes, so that none lands in the checkout.
  (
    cd "$WORK"
    PYTHONPATH=$ROOT/tests/contract SCHEMATHESIS_HOOKS=contract_hooks PYTHONDONTWRITEBYTECODE=1 \
      "$SCHEMATHESIS" --config-file "$WORK/schemathesis.toml" \
      run "$base/openapi.json" \
      --url "$base" \
      --header "Authorization: Bearer $key" \
      --checks "$CHECKS" \
      --max-examples "$MAX_EXAMPLES" \
      --seed "$SEED" \
      --workers 1 \
      --request-timeout 20 \
      --generation-database none \
      --report junit \
      --report-junit-path "$LOGS/$namespace-schemathesis.xml" \
      --no-color
  ) || status=$?
  say "schemathesis took $((SECONDS - started)) s and exited $status"

  clean_up
  [ "$status" -eq 0 ] || fail "the gateway does not keep its contract; see above and $log"
  say "the gateway keeps its contract"
}

main "$@"
