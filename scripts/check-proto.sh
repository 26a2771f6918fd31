#!/usr/bin/env bash
# CI gate: regenerating the protobuf code must change nothing that is committed.
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
cp -r proto/nexflow "$tmp/before"
./scripts/gen-proto.sh >/dev/null
if ! diff -r -q "$tmp/before" proto/nexflow >/dev/null; then
  echo "generated protobuf code is stale: run 'make proto' and commit the result" >&2
  diff -r "$tmp/before" proto/nexflow | head -40 >&2
  exit 1
fi
echo "proto: generated code is up to date"
