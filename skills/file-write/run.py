#!/usr/bin/env python3
"""file-write: write one file inside the workspace (stdin: JSON input, stdout: JSON result).

Relative paths are relative to the workspace ($NEXFLOW_WORKSPACE, /workspace in
the sandbox); parent folders are created. Anything whose real path is outside
the workspace is refused (defence in depth), and the final file is opened with
O_NOFOLLOW so a symlink cannot redirect the write.
"""

import json
import os
import sys


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
    path, content = data.get("path"), data.get("content")
    append = data.get("append", False)
    if not isinstance(path, str) or not path or "\0" in path:
        fail("bad_input", "'path' must be a non-empty string")
    if not isinstance(content, str):
        fail("bad_input", "'content' must be a string")
    if not isinstance(append, bool):
        fail("bad_input", "'append' must be a boolean")
    return path, content, append


def inside(root, real):
    return real.startswith(root + os.sep)


def main():
    path, content, append = read_input()
    root = os.path.realpath(os.environ.get("NEXFLOW_WORKSPACE", "/workspace"))
    target = os.path.realpath(os.path.join(root, path))
    if not inside(root, target):
        fail("outside_workspace", f"{path!r} is outside the workspace")
    parent = os.path.dirname(target)
    try:
        os.makedirs(parent, exist_ok=True)
    except OSError as exc:
        fail("cannot_write", f"cannot create the folder for {path!r}: {exc.strerror}")
    if os.path.realpath(parent) != parent:
        fail("outside_workspace", f"{path!r} changed while being written")
    flags = os.O_WRONLY | os.O_CREAT | os.O_NOFOLLOW | (os.O_APPEND if append else os.O_TRUNC)
    data = content.encode("utf-8")
    try:
        fd = os.open(target, flags, 0o644)
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
    except IsADirectoryError:
        fail("not_a_file", f"{path!r} is a folder")
    except OSError as exc:
        fail("cannot_write", f"{path!r}: {exc.strerror}")
    rel = os.path.relpath(target, root)
    print(f"file-write: {len(data)} byte(s) to {rel}", file=sys.stderr)
    print(json.dumps({"path": rel, "bytes_written": len(data)}))


if __name__ == "__main__":
    main()
