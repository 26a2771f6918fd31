#!/usr/bin/env python3
"""file-read: read one file inside the workspace (stdin: JSON input, stdout: JSON result).

Relative paths are relative to the workspace ($NEXFLOW_WORKSPACE, /workspace in
the sandbox). Anything whose real path is outside the workspace is refused,
even though the sandbox mounts only the workspace (defence in depth).
"""

import base64
import json
import os
import stat
import sys

DEFAULT_MAX_BYTES = 256 * 1024
LIMIT_MAX_BYTES = 512 * 1024


def fail(code, message):
    print(json.dumps({"error": code, "message": message}))
    sys.exit(1)


def read_input():
    try:
        data = json.load(sys.stdin)
    except ValueError as exc:
        fail("bad_input", f"input is not JSON: {exc}")
    if not isinstance(data, dict):
        fail("bad_input", "input must be a JSON object")
    path = data.get("path")
    if not isinstance(path, str) or not path or "\0" in path:
        fail("bad_input", "'path' must be a non-empty string")
    max_bytes = data.get("max_bytes", DEFAULT_MAX_BYTES)
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int) or max_bytes < 0:
        fail("bad_input", "'max_bytes' must be a non-negative integer")
    return path, min(max_bytes, LIMIT_MAX_BYTES)


def resolve(root, path):
    real = os.path.realpath(os.path.join(root, path))
    if real != root and not real.startswith(root + os.sep):
        fail("outside_workspace", f"{path!r} is outside the workspace")
    return real


def decode(data, truncated):
    """UTF-8 text when possible (a cut multi-byte character is dropped), else None."""
    for cut in range(4 if truncated else 1):
        try:
            text = data[: len(data) - cut].decode("utf-8")
        except UnicodeDecodeError:
            continue
        return None if "\0" in text else text
    return None


def main():
    path, max_bytes = read_input()
    root = os.path.realpath(os.environ.get("NEXFLOW_WORKSPACE", "/workspace"))
    real = resolve(root, path)
    try:
        fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        fail("not_found", f"{path!r} does not exist")
    except OSError as exc:
        fail("cannot_read", f"{path!r}: {exc.strerror}")
    with os.fdopen(fd, "rb") as fh:
        info = os.fstat(fh.fileno())
        if not stat.S_ISREG(info.st_mode):
            fail("not_a_file", f"{path!r} is not a regular file")
        data = fh.read(max_bytes + 1)
    truncated = len(data) > max_bytes
    data = data[:max_bytes]
    result = {"path": os.path.relpath(real, root), "size": info.st_size, "truncated": truncated}
    text = decode(data, truncated)
    if text is None:
        result.update(content=base64.b64encode(data).decode("ascii"), encoding="base64")
    else:
        result.update(content=text, encoding="utf-8")
    print(f"file-read: {len(data)} byte(s) from {result['path']}", file=sys.stderr)
    print(json.dumps(result, ensure_ascii=False))


if __name__ == "__main__":
    main()
