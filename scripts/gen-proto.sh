#!/usr/bin/env bash
# Regenerates the Python code for every .proto under proto/ (committed; CI checks it).
set -euo pipefail
cd "$(dirname "$0")/.."
find proto/nexflow -name '*_pb2*.py*' -delete
mapfile -t protos < <(cd proto && find nexflow -name '*.proto' | sort)
(cd proto && PATH="$PWD/../.venv/bin:$PATH" ../.venv/bin/python -m grpc_tools.protoc -I . \
    --python_out=. --grpc_python_out=. --mypy_out=. "${protos[@]}")
