#!/usr/bin/env bash
# Checks orderflow's Kubernetes manifests offline: renders each overlay with kustomize,
# validates every rendered object against its schema with kubeconform (-strict; built-in
# kinds, Strimzi's and KEDA's custom resources), checks orderflow's own rules on the result
# (manifestcheck policy) and runs the binary with every container's arguments.
#
# What it needs comes from the package registries only and lands in the git-ignored .stack
# folder, each part once per pinned version (a stamp file records what it was made from):
#   .stack/bin           kustomize, kubeconform, manifestcheck  (stack/tools/go.mod)
#   .stack/k8s-schemas   Kubernetes schemas           (stack/k8s-schemas/requirements.txt)
#                        Strimzi CRDs                 (stack/k8s-schemas/pom.xml)
#                        KEDA CRDs                    (KEDA_MODULE below)
#
# ORDERFLOW_BIN names the binary whose subcommands the manifests must match; when it does not
# exist the check says so and skips that step, or fails when CI is set.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
STACK="$ROOT/.stack"
BIN="$STACK/bin"
SCHEMAS="$STACK/k8s-schemas"
RENDERED="$STACK/k8s-rendered"
ORDERFLOW_BIN=${ORDERFLOW_BIN:-$ROOT/target/release/orderflow}

OVERLAYS=(dev prod)
# Where kubeconform finds the schema of a built-in kind, and of a custom resource.
KUBERNETES_SCHEMA="$SCHEMAS/kubernetes/{{ .NormalizedKubernetesVersion }}"
KUBERNETES_SCHEMA+="/{{ .ResourceKind }}{{ .KindSuffix }}.json"
CRD_SCHEMA="{{ .Group }}/{{ .ResourceKind }}_{{ .ResourceAPIVersion }}.json"
# The oldest and the newest Kubernetes minor release the manifests are validated against.
KUBERNETES_VERSIONS=(1.35.0 1.37.0)
# KEDA's CRDs come from its Go module's source (config/crd/bases); the sum pins the zip.
KEDA_MODULE=github.com/kedacore/keda/v2@v2.21.0
KEDA_SUM=h1:R6z2HZvstK4RLUMxroNACzBj74xGxt3kG59b5Xc+Xps=
# Strimzi's CRD generator is built for Java 21 or newer.
STRIMZI_JAVA_MIN=21

say() { printf 'k8s-check: %s\n' "$*"; }
fail() { printf 'k8s-check: error: %s\n' "$*" >&2; exit 1; }

need_command() {
  command -v "$1" >/dev/null 2>&1 || fail "'$1' is not installed; $2"
}

# True when the stamp exists and records exactly the given inputs.
stamp_matches() { [ -f "$1" ] && [ "$(cat "$1")" = "$2" ]; }

install_tools() {
  local stamp="$BIN/.manifest-tools-from" from
  from=$(cat "$ROOT/stack/tools/go.sum" "$ROOT"/stack/tools/manifestcheck/*.go | sha256sum)
  if [ -x "$BIN/kustomize" ] && [ -x "$BIN/kubeconform" ] && [ -x "$BIN/manifestcheck" ] &&
    stamp_matches "$stamp" "$from"; then return 0; fi
  need_command go "kustomize and kubeconform are built from the Go module proxy"
  say "building kustomize, kubeconform and manifestcheck from the Go module proxy"
  mkdir -p "$BIN"
  (cd "$ROOT/stack/tools" && go build -o "$BIN/" ./manifestcheck \
    sigs.k8s.io/kustomize/kustomize/v5 github.com/yannh/kubeconform/cmd/kubeconform)
  printf '%s' "$from" >"$stamp"
}

pip_command() {
  if [ -x "$STACK/venv/bin/pip" ]; then echo "$STACK/venv/bin/pip"; else echo "python3 -m pip"; fi
}

install_kubernetes_schemas() {
  local stamp="$SCHEMAS/kubernetes/.from" from work wheel version
  from=$(sha256sum "$ROOT/stack/k8s-schemas/requirements.txt" \
    "$ROOT"/stack/tools/manifestcheck/*.go)
  stamp_matches "$stamp" "$from" && return 0
  say "fetching the Kubernetes JSON schemas (kubernetes-validate from PyPI)"
  work=$(mktemp -d)
  $(pip_command) download -q --disable-pip-version-check --no-deps --only-binary :all: \
    --require-hashes -r "$ROOT/stack/k8s-schemas/requirements.txt" -d "$work"
  wheel=$(ls "$work"/kubernetes_validate-*.whl)
  rm -rf "$SCHEMAS/kubernetes"
  for version in "${KUBERNETES_VERSIONS[@]}"; do
    local src="kubernetes_validate/kubernetes-json-schema/v$version-local-strict"
    python3 - "$wheel" "$src/" "$work" <<'EOF'
import sys, zipfile
wheel, prefix, into = sys.argv[1:]
with zipfile.ZipFile(wheel) as z:
    z.extractall(into, [m for m in z.namelist() if m.startswith(prefix)])
EOF
    [ -d "$work/$src" ] || fail "kubernetes-validate has no schemas for Kubernetes $version"
    "$BIN/manifestcheck" kubernetes-schemas "$work/$src" "$SCHEMAS/kubernetes/v$version"
  done
  rm -rf "$work"
  printf '%s' "$from" >"$stamp"
}

# The first Java on this machine at least as new as the given major version.
java_at_least() {
  local candidate major
  for candidate in "${JAVA_HOME:+$JAVA_HOME/bin/java}" "$(command -v java || true)" \
    /usr/lib/jvm/*/bin/java; do
    if [ -z "$candidate" ] || [ ! -x "$candidate" ]; then continue; fi
    major=$("$candidate" -XshowSettings:properties -version 2>&1 |
      sed -n 's/^ *java.specification.version = \([0-9]*\).*/\1/p')
    if [ -n "$major" ] && [ "$major" -ge "$1" ]; then echo "$candidate"; return 0; fi
  done
  return 1
}

install_strimzi_schemas() {
  local stamp="$SCHEMAS/strimzi/.from" from work java
  from=$(sha256sum "$ROOT/stack/k8s-schemas/pom.xml" "$ROOT"/stack/tools/manifestcheck/*.go)
  stamp_matches "$stamp" "$from" && return 0
  need_command mvn "Maven resolves Strimzi's API model and CRD generator"
  java=$(java_at_least "$STRIMZI_JAVA_MIN") ||
    fail "Strimzi's CRD generator needs Java $STRIMZI_JAVA_MIN or newer; set JAVA_HOME to one"
  say "generating the Strimzi CRDs (io.strimzi:api and crd-generator from Maven Central)"
  work=$(mktemp -d)
  mvn -q -B -f "$ROOT/stack/k8s-schemas/pom.xml" dependency:copy-dependencies \
    -DoutputDirectory="$work/libs" -DincludeScope=runtime >"$work/maven.log" 2>&1 ||
    fail "Maven could not resolve Strimzi's artifacts: $(tail -5 "$work/maven.log")"
  # The arguments of Strimzi's own build (api/pom.xml, generate-crd-co-install-v1).
  "$java" -cp "$work/libs/*" io.strimzi.crdgenerator.CrdGenerator \
    --label app:strimzi --label strimzi.io/crd-install:true --target-kube 1.16+ \
    --crd-api-version v1 --api-versions v1 --storage-version v1 --yaml \
    io.strimzi.api.kafka.model.kafka.Kafka="$work/kafka.yaml" \
    io.strimzi.api.kafka.model.nodepool.KafkaNodePool="$work/kafkanodepool.yaml" \
    io.strimzi.api.kafka.model.topic.KafkaTopic="$work/kafkatopic.yaml" \
    >"$work/generator.log" 2>&1 ||
    fail "Strimzi's CRD generator failed: $(tail -5 "$work/generator.log")"
  rm -rf "$SCHEMAS/strimzi"
  "$BIN/manifestcheck" crd-schemas "$SCHEMAS/strimzi" \
    "$work/kafka.yaml" "$work/kafkanodepool.yaml" "$work/kafkatopic.yaml"
  rm -rf "$work"
  printf '%s' "$from" >"$stamp"
}

install_keda_schemas() {
  local stamp="$SCHEMAS/keda/.from" from info dir sum
  from="$KEDA_MODULE $KEDA_SUM $(cat "$ROOT"/stack/tools/manifestcheck/*.go | sha256sum)"
  stamp_matches "$stamp" "$from" && return 0
  need_command go "KEDA's CRDs come from its Go module"
  say "fetching the KEDA CRDs ($KEDA_MODULE from the Go module proxy)"
  # Outside any module, so that no go.mod or go.sum is touched.
  info=$(cd "$STACK" && go mod download -json "$KEDA_MODULE")
  dir=$(printf '%s' "$info" | sed -n 's/^[[:space:]]*"Dir": "\(.*\)",$/\1/p')
  sum=$(printf '%s' "$info" | sed -n 's/^[[:space:]]*"Sum": "\(.*\)",$/\1/p')
  [ "$sum" = "$KEDA_SUM" ] || fail "$KEDA_MODULE has sum '$sum', expected $KEDA_SUM"
  rm -rf "$SCHEMAS/keda"
  "$BIN/manifestcheck" crd-schemas "$SCHEMAS/keda" \
    "$dir/config/crd/bases/keda.sh_scaledobjects.yaml"
  printf '%s' "$from" >"$stamp"
}

# Runs the binary with each container's arguments and --help: it exits non-zero on a
# subcommand or argument it does not know.
check_commands() {
  local rendered=$1 workload args
  if [ ! -x "$ORDERFLOW_BIN" ]; then
    [ -z "${CI:-}" ] || fail "$ORDERFLOW_BIN does not exist; build it first (make build)"
    say "SKIPPED: $ORDERFLOW_BIN does not exist, so the containers' arguments are not checked"
    return 0
  fi
  while read -r workload args; do
    # shellcheck disable=SC2086
    "$ORDERFLOW_BIN" $args --help >/dev/null 2>&1 ||
      fail "$workload runs 'orderflow $args', which the binary refuses"
  done < <("$BIN/manifestcheck" commands <"$rendered")
  grep -q '^ENTRYPOINT \["orderflow"\]$' "$ROOT/Dockerfile" ||
    fail "the Dockerfile's ENTRYPOINT is not [\"orderflow\"], which the manifests' args assume"
  say "every container's arguments are a subcommand of $(basename "$ORDERFLOW_BIN")"
}

check_overlay() {
  local overlay=$1 rendered="$RENDERED/$1.yaml" version
  mkdir -p "$RENDERED"
  # The configuration file lives in k8s/ (the binary's tests read it there), above the base.
  "$BIN/kustomize" build "$ROOT/k8s/overlays/$overlay" \
    >"$rendered"
  say "kustomize build k8s/overlays/$overlay: $(grep -c '^kind: ' "$rendered") objects"
  for version in "${KUBERNETES_VERSIONS[@]}"; do
    say "kubeconform $overlay against Kubernetes $version, Strimzi and KEDA"
    "$BIN/kubeconform" -strict -summary -kubernetes-version "$version" \
      -schema-location "$KUBERNETES_SCHEMA" \
      -schema-location "$SCHEMAS/strimzi/$CRD_SCHEMA" -schema-location "$SCHEMAS/keda/$CRD_SCHEMA" \
      "$rendered"
  done
  "$BIN/manifestcheck" policy <"$rendered"
  check_commands "$rendered"
}

main() {
  install_tools
  install_kubernetes_schemas
  install_strimzi_schemas
  install_keda_schemas
  for overlay in "${OVERLAYS[@]}"; do check_overlay "$overlay"; done
  say "ok: ${OVERLAYS[*]}"
}

main "$@"
