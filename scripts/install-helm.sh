#!/usr/bin/env bash
# The pinned Helm, built from source (scripts/go-tool.sh) and linked as .venv/bin/helm.
# Only the test profile needs it (tests/deploy lint and render the chart).
set -euo pipefail
cd "$(dirname "$0")/.."
./scripts/go-tool.sh helm helm.sh/helm/v4/cmd/helm v4.3.2
version=$(.venv/bin/helm version --short) && echo "[setup] helm $version" >&2
