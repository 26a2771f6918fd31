#!/usr/bin/env bash
# shell-run: run one command with bash inside the workspace.
# stdin: {"command": "...", "cwd"?: "..."}; stdout: {"exit_code", "stdout", "stderr", "truncated"}.
# The JSON is read by python3 (no jq); the command never passes through eval of
# this script: it is handed to `bash -c` as one argument.
set -euo pipefail

workspace="${NEXFLOW_WORKSPACE:-/workspace}"
scratch="$(mktemp -d)"
trap 'rm -rf -- "$scratch"' EXIT

# Validate the input; on success write cwd and command, NUL-terminated, to a file.
if ! python3 -I -c '
import json, os, sys
def fail(code, message):
    print(json.dumps({"error": code, "message": message}))
    sys.exit(1)
try:
    data = json.load(sys.stdin)
except ValueError as exc:
    fail("bad_input", "input is not JSON: %s" % exc)
if not isinstance(data, dict):
    fail("bad_input", "input must be a JSON object")
command, cwd = data.get("command"), data.get("cwd", ".")
if not isinstance(command, str) or not command.strip() or "\0" in command:
    fail("bad_input", "command must be a non-empty string")
if not isinstance(cwd, str) or "\0" in cwd:
    fail("bad_input", "cwd must be a string")
root = os.path.realpath(sys.argv[1])
real = os.path.realpath(os.path.join(root, cwd))
if real != root and not real.startswith(root + os.sep):
    fail("outside_workspace", "cwd %r is outside the workspace" % cwd)
if not os.path.isdir(real):
    fail("not_found", "cwd %r is not a folder" % cwd)
with open(sys.argv[2], "wb") as fh:
    fh.write(real.encode() + b"\0" + command.encode() + b"\0")
' "$workspace" "$scratch/args"; then
    exit 1
fi

{ IFS= read -r -d '' dir && IFS= read -r -d '' command; } <"$scratch/args"

echo "shell-run: running in $dir" >&2
code=0
(cd -- "$dir" && bash -c "$command") </dev/null >"$scratch/out" 2>"$scratch/err" || code=$?

python3 -I -c '
import json, sys
limit = 256 * 1024
def part(path):
    with open(path, "rb") as fh:
        data = fh.read(limit + 1)
    return data[:limit].decode("utf-8", "replace"), len(data) > limit
out, cut_out = part(sys.argv[2])
err, cut_err = part(sys.argv[3])
print(json.dumps({"exit_code": int(sys.argv[1]), "stdout": out, "stderr": err,
                  "truncated": cut_out or cut_err}, ensure_ascii=False))
' "$code" "$scratch/out" "$scratch/err"
