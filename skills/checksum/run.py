#!/usr/bin/env python3
"""checksum: hash a workspace file or a text (stdin: JSON input, stdout: JSON result).

The file is opened with O_NOFOLLOW after its real path was checked to lie inside the
workspace, must be a regular file (a FIFO or device would block or never end), and is
read in 1 MiB chunks, so its size does not matter to memory.
"""

import hashlib
import json
import os
import stat
import sys

ALGORITHMS = ("sha256", "sha512", "sha1", "md5", "blake2b")
CHUNK = 1 << 20


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
    path, text = data.get("path"), data.get("text")
    if (path is None) == (text is None):
        fail("bad_input", "give exactly one of 'path' and 'text'")
    if path is not None and (not isinstance(path, str) or not path or "\0" in path):
        fail("bad_input", "'path' must be a non-empty string")
    if text is not None and not isinstance(text, str):
        fail("bad_input", "'text' must be a string")
    algorithm = data.get("algorithm", "sha256")
    if algorithm not in ALGORITHMS:
        fail("bad_input", f"'algorithm' must be one of {', '.join(ALGORITHMS)}")
    expected = data.get("expected")
    if expected is not None and not isinstance(expected, str):
        fail("bad_input", "'expected' must be a hex string")
    return path, text, algorithm, expected


def hash_file(root, path, digest):
    real = os.path.realpath(os.path.join(root, path))
    if not real.startswith(root + os.sep):
        fail("outside_workspace", f"{path!r} is outside the workspace")
    try:
        fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except FileNotFoundError:
        fail("not_found", f"{path!r} does not exist")
    except OSError as exc:
        fail("cannot_read", f"{path!r}: {exc.strerror}")
    size = 0
    with os.fdopen(fd, "rb") as fh:
        if not stat.S_ISREG(os.fstat(fh.fileno()).st_mode):
            fail("not_a_file", f"{path!r} is not a regular file")
        while chunk := fh.read(CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return os.path.relpath(real, root), size


def main():
    path, text, algorithm, expected = read_input()
    digest = hashlib.new(algorithm)
    result = {"algorithm": algorithm}
    if path is not None:
        root = os.path.realpath(os.environ.get("NEXFLOW_WORKSPACE", "/workspace"))
        result["path"], result["size"] = hash_file(root, path, digest)
    else:
        data = text.encode("utf-8")
        digest.update(data)
        result["size"] = len(data)
    result["digest"] = digest.hexdigest()
    if expected is not None:
        result["matches"] = expected.strip().lower() == result["digest"]
    print(f"checksum: {algorithm} of {result['size']} byte(s)", file=sys.stderr)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
