#!/usr/bin/env bash
# Builds the pinned Helm from source with the Go toolchain (from the Go module proxy;
# no release binary is downloaded) into a cache outside the repo, and links it as
# .venv/bin/helm. Only the test profile needs it (tests/deploy lint and render the chart).
set -euo pipefail
cd "$(dirname "$0")/.."
HELM_VERSION=v4.3.2
dest="${NEXFLOW_CACHE:-$HOME/.cache/nexflow}/bin/helm-$HELM_VERSION"
if [ ! -x "$dest/helm" ]; then
  command -v go >/dev/null || { echo "[setup] Go is needed to build Helm $HELM_VERSION" >&2; exit 1; }
  echo "[setup] building Helm $HELM_VERSION with go install (a few minutes, once)" >&2
  mkdir -p "$dest"
  GOBIN="$dest" GOFLAGS=-mod=mod go install "helm.sh/helm/v4/cmd/helm@$HELM_VERSION"
fi
ln -sf "$dest/helm" .venv/bin/helm
version=$(.venv/bin/helm version --short) && echo "[setup] helm $version" >&2
