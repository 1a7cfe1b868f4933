#!/usr/bin/env bash
# Validates docs/asyncapi.yaml with the AsyncAPI parser: the document against the AsyncAPI 3.0
# specification, every $ref resolved and every Avro schema it names parsed. The parser comes
# from the npm registry at the versions of stack/asyncapi/package-lock.json, installed once per
# lock file into the git-ignored .stack/asyncapi. That the document names every topic the
# code creates, with its schema, is tests/asyncapi.rs's part.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TOOL="$ROOT/.stack/asyncapi"

say() { printf 'asyncapi-check: %s\n' "$*"; }
fail() { printf 'asyncapi-check: error: %s\n' "$*" >&2; exit 1; }

install_parser() {
  local stamp="$TOOL/.installed-from"
  if [ -f "$stamp" ] && cmp -s "$stamp" "$ROOT/stack/asyncapi/package-lock.json"; then
    return 0
  fi
  command -v npm >/dev/null 2>&1 ||
    fail "'npm' is not installed; the AsyncAPI parser is an npm package"
  say "installing the AsyncAPI parser from the npm registry into .stack/asyncapi"
  rm -rf "$TOOL"
  mkdir -p "$TOOL"
  cp "$ROOT/stack/asyncapi/package.json" "$ROOT/stack/asyncapi/package-lock.json" "$TOOL/"
  (cd "$TOOL" && npm ci --ignore-scripts --no-audit --no-fund --loglevel=error >/dev/null)
  cp "$ROOT/stack/asyncapi/package-lock.json" "$stamp"
}

install_parser
# The script runs from beside its node_modules, where Node resolves the parser's packages.
cp "$ROOT/stack/asyncapi/validate.mjs" "$TOOL/validate.mjs"
node "$TOOL/validate.mjs" "$ROOT/docs/asyncapi.yaml"
