#!/usr/bin/env bash
# The pinned OPA, built from source (scripts/go-tool.sh; no package ships the binary)
# and linked as .venv/bin/opa.
set -euo pipefail
cd "$(dirname "$0")/.."
# scripts/build-deploy-images.sh reads the version from the next line.
OPA_VERSION=v1.22.0
./scripts/go-tool.sh opa github.com/open-policy-agent/opa "$OPA_VERSION"
version=$(.venv/bin/opa version) && echo "[setup] ${version%%$'\n'*}" >&2
