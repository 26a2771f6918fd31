#!/usr/bin/env bash
# Builds the pinned OPA from source with the Go toolchain (no package ships the binary)
# into a cache outside the repo, and links it as .venv/bin/opa.
set -euo pipefail
cd "$(dirname "$0")/.."
OPA_VERSION=v1.22.0
dest="${NEXFLOW_CACHE:-$HOME/.cache/nexflow}/bin/opa-$OPA_VERSION"
if [ ! -x "$dest/opa" ]; then
  command -v go >/dev/null || { echo "[setup] Go is needed to build OPA $OPA_VERSION" >&2; exit 1; }
  echo "[setup] building OPA $OPA_VERSION with go install (a few minutes, once)" >&2
  mkdir -p "$dest"
  GOBIN="$dest" GOFLAGS=-mod=mod go install "github.com/open-policy-agent/opa@$OPA_VERSION"
fi
ln -sf "$dest/opa" .venv/bin/opa
version=$(.venv/bin/opa version) && echo "[setup] ${version%%$'\n'*}" >&2
