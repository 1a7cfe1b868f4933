#!/usr/bin/env bash
# The local stack of orderflow: Apache Kafka (KRaft, one node), a Confluent-compatible schema
# registry and an SMTP server, each a real server on loopback, installed and run from the
# git-ignored .stack folder of the checkout.
#
#   stack.sh install   fetch what is missing (Debian packages, Kafka, registry, Python tools)
#   stack.sh up        start what is not running and wait until every service answers
#   stack.sh down      stop every service and remove the stack's data
#   stack.sh status    say what runs
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STACK="$ROOT/.stack"
KAFKA_HOME="$STACK/kafka"
KAFKA_DATA="$STACK/data/kafka"
MAIL_DIR="$STACK/data/mail"
LOGS="$STACK/logs"
RUN="$STACK/run"
VENV="$STACK/venv"
REGISTRY_BIN="$STACK/bin/schema-registry"

KAFKA_ADDR=127.0.0.1:9092
REGISTRY_URL=http://127.0.0.1:8081
SMTP_HOST=127.0.0.1
SMTP_PORT=2525
START_TIMEOUT_SECS=90

DEBIAN_PACKAGES=(cmake pkg-config libclang-dev libcurl4-openssl-dev libssl-dev zlib1g-dev
  python3-venv curl)

say() { printf 'stack: %s\n' "$*"; }
fail() { printf 'stack: error: %s\n' "$*" >&2; exit 1; }

need_command() {
  command -v "$1" >/dev/null 2>&1 || fail "'$1' is not installed; $2"
}

install_debian_packages() {
  local missing=()
  for p in "${DEBIAN_PACKAGES[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  say "installing Debian packages: ${missing[*]}"
  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  "${sudo[@]}" apt-get update -q
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -q "${missing[@]}"
}

install_kafka() {
  local stamp="$KAFKA_HOME/libs/.resolved-from"
  if [ -f "$stamp" ] && cmp -s "$stamp" "$ROOT/stack/kafka/pom.xml"; then return 0; fi
  need_command mvn "Maven resolves Kafka from Maven Central"
  need_command java "Kafka runs on the JDK"
  say "resolving Apache Kafka from Maven Central"
  rm -rf "$KAFKA_HOME/libs"
  mvn -q -B -f "$ROOT/stack/kafka/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$KAFKA_HOME/libs" -DincludeScope=runtime
  cp "$ROOT/stack/kafka/pom.xml" "$stamp"
}

install_registry() {
  local stamp="$STACK/bin/.registry-from"
  if [ -x "$REGISTRY_BIN" ] && [ -f "$stamp" ] && cmp -s "$stamp" "$ROOT/stack/registry/go.sum"
  then return 0; fi
  need_command go "the schema registry is built from the Go module proxy"
  say "building the AxonOps schema registry from the Go module proxy"
  mkdir -p "$STACK/bin"
  (cd "$ROOT/stack/registry" && go build -o "$REGISTRY_BIN" \
    github.com/axonops/axonops-schema-registry/cmd/schema-registry)
  cp "$ROOT/stack/registry/go.sum" "$stamp"
}

install_python_tools() {
  local stamp="$VENV/.installed-from"
  if [ -f "$stamp" ] && cmp -s "$stamp" "$ROOT/stack/requirements.txt"; then return 0; fi
  need_command python3 "the SMTP server and the Python test tools need it"
  say "installing Python tools into .stack/venv"
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install -q --disable-pip-version-check -r "$ROOT/stack/requirements.txt"
  cp "$ROOT/stack/requirements.txt" "$stamp"
}

install() {
  mkdir -p "$STACK"
  install_debian_packages
  install_kafka
  install_registry
  install_python_tools
}

# A service is running when its pid file names a live process.
running() {
  local pid_file="$RUN/$1.pid"
  [ -f "$pid_file" ] && kill -0 "$(cat "$pid_file")" 2>/dev/null
}

kafka_cp() { printf '%s/libs/*' "$KAFKA_HOME"; }

start_kafka() {
  running kafka && return 0
  mkdir -p "$KAFKA_DATA" "$LOGS/kafka" "$RUN"
  sed "s#@DATA_DIR@#$KAFKA_DATA#" "$ROOT/stack/kafka/server.properties" \
    >"$KAFKA_HOME/server.properties"
  if [ ! -f "$KAFKA_DATA/meta.properties" ]; then
    local cluster_id
    cluster_id=$(java -cp "$(kafka_cp)" kafka.tools.StorageTool random-uuid)
    java -cp "$(kafka_cp)" kafka.tools.StorageTool format -t "$cluster_id" \
      -c "$KAFKA_HOME/server.properties" >"$LOGS/kafka/format.log" 2>&1 \
      || fail "formatting the Kafka storage failed; see $LOGS/kafka/format.log"
  fi
  say "starting Apache Kafka on $KAFKA_ADDR"
  nohup java -Xms512m -Xmx1g -XX:+UseG1GC \
    -Dlog4j2.configurationFile="$ROOT/stack/kafka/log4j2.yaml" \
    -Dkafka.logs.dir="$LOGS/kafka" \
    -cp "$(kafka_cp)" kafka.Kafka "$KAFKA_HOME/server.properties" \
    >"$LOGS/kafka/stdout.log" 2>&1 &
  echo $! >"$RUN/kafka.pid"
}

start_registry() {
  running registry && return 0
  mkdir -p "$LOGS" "$RUN"
  say "starting the AxonOps schema registry on $REGISTRY_URL"
  nohup "$REGISTRY_BIN" -config "$ROOT/stack/registry/config.yaml" \
    >"$LOGS/registry.log" 2>&1 &
  echo $! >"$RUN/registry.pid"
}

start_smtp() {
  running smtp && return 0
  # A maildir: the SMTP server only writes into these three folders, it does not create them.
  mkdir -p "$MAIL_DIR"/{tmp,new,cur} "$LOGS" "$RUN"
  say "starting the aiosmtpd SMTP server on $SMTP_HOST:$SMTP_PORT (mailbox: $MAIL_DIR)"
  nohup "$VENV/bin/python" -m aiosmtpd -n -l "$SMTP_HOST:$SMTP_PORT" \
    -c aiosmtpd.handlers.Mailbox "$MAIL_DIR" >"$LOGS/smtp.log" 2>&1 &
  echo $! >"$RUN/smtp.pid"
}

kafka_answers() {
  timeout 20 java -cp "$(kafka_cp)" org.apache.kafka.tools.TopicCommand \
    --bootstrap-server "$KAFKA_ADDR" --list >/dev/null 2>&1
}

registry_answers() { curl -sf -m 2 "$REGISTRY_URL/subjects" >/dev/null 2>&1; }

smtp_answers() {
  "$VENV/bin/python" - "$SMTP_HOST" "$SMTP_PORT" <<'EOF' >/dev/null 2>&1
import smtplib, sys
with smtplib.SMTP(sys.argv[1], int(sys.argv[2]), timeout=2) as s:
    s.noop()
EOF
}

# Waits until a service answers; names the service and its log when it does not.
await_service() {
  local name=$1 probe=$2 log=$3 deadline=$((SECONDS + START_TIMEOUT_SECS))
  until $probe; do
    running "$name" || fail "$name exited during start-up; see $log"
    [ $SECONDS -lt $deadline ] || fail "$name did not answer within ${START_TIMEOUT_SECS}s; see $log"
    sleep 1
  done
  say "$name answers"
}

stop_service() {
  local name=$1 pid_file="$RUN/$1.pid"
  [ -f "$pid_file" ] || return 0
  local pid
  pid=$(cat "$pid_file")
  if kill -0 "$pid" 2>/dev/null; then
    say "stopping $name"
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 30); do kill -0 "$pid" 2>/dev/null || break; sleep 0.5; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$pid_file"
}

up() {
  install
  # Schemas live in the registry's memory: a broker whose data outlived the registry would hold
  # records with schema ids nobody knows, so a half-running stack is restarted from empty.
  if running kafka && ! running registry; then
    say "the registry stopped while Kafka kept running; restarting the stack from empty"
    down
  fi
  if ! running registry && [ -d "$KAFKA_DATA" ]; then
    stop_service kafka
    rm -rf "$KAFKA_DATA"
  fi
  start_registry
  start_kafka
  start_smtp
  await_service registry registry_answers "$LOGS/registry.log"
  await_service smtp smtp_answers "$LOGS/smtp.log"
  await_service kafka kafka_answers "$LOGS/kafka/broker.log"
  say "up: kafka $KAFKA_ADDR, schema registry $REGISTRY_URL, smtp $SMTP_HOST:$SMTP_PORT"
}

down() {
  stop_service smtp
  stop_service kafka
  stop_service registry
  rm -rf "$STACK/data"
  say "down"
}

status() {
  for s in kafka registry smtp; do
    if running "$s"; then say "$s: running (pid $(cat "$RUN/$s.pid"))"; else say "$s: stopped"; fi
  done
}

case "${1:-}" in
  install) install ;;
  up) up ;;
  down) down ;;
  status) status ;;
  *) fail "usage: stack.sh install|up|down|status" ;;
esac
