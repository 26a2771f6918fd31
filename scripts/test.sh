#!/usr/bin/env bash
# The test run behind `make test`: every suite, real parts, no skips for missing parts.
set -euo pipefail
cd "$(dirname "$0")/.."
export LITELLM_LOCAL_MODEL_COST_MAP=True
# CI provides every real part; a test that would skip for a missing part fails instead.
export NEXFLOW_REQUIRE_REAL_PARTS=${NEXFLOW_REQUIRE_REAL_PARTS:-1}
mkdir -p .artifacts
set +e
.venv/bin/python -m pytest -n 2 --dist loadgroup -p no:cacheprovider \
  --junitxml=.artifacts/junit.xml "$@"
rc=$?
set -e
# pytest exit 5 = no tests collected: that is a failure for us, not a pass.
if [ "$rc" -eq 5 ]; then echo "no tests were collected" >&2; exit 1; fi
exit "$rc"
