#!/usr/bin/env python3
"""echo: print the input object back unchanged (stdin: JSON object, stdout: JSON)."""

import json
import sys


def fail(code: str, message: str) -> None:
    print(json.dumps({"error": code, "message": message}))
    sys.exit(1)


def main() -> None:
    try:
        data = json.load(sys.stdin)
    except ValueError as exc:
        fail("bad_input", f"input is not JSON: {exc}")
    if not isinstance(data, dict):
        fail("bad_input", "input must be a JSON object")
    print(f"echo: returning {len(data)} field(s)", file=sys.stderr)
    print(json.dumps(data, ensure_ascii=False))


if __name__ == "__main__":
    main()
