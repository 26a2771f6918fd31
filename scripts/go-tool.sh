#!/usr/bin/env bash
# go-tool.sh NAME PACKAGE VERSION: builds a pinned Go tool from source with the Go
# toolchain (from the Go module proxy; no release binary is downloaded) into a cache
# outside the repo, once per version, and links it as .venv/bin/NAME.
set -euo pipefail
cd "$(dirname "$0")/.."
name=$1 package=$2 version=$3
dest="${NEXFLOW_CACHE:-$HOME/.cache/nexflow}/bin/$name-$version"
if [ ! -x "$dest/$name" ]; then
  command -v go >/dev/null || { echo "[setup] Go is needed to build $name $version" >&2; exit 1; }
  echo "[setup] building $name $version with go install (a few minutes, once)" >&2
  mkdir -p "$dest"
  GOBIN="$dest" GOFLAGS=-mod=mod go install "$package@$version"
fi
ln -sf "$dest/$name" ".venv/bin/$name"
