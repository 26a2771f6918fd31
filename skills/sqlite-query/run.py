#!/usr/bin/env python3
"""sqlite-query: one read-only statement on a workspace SQLite file (stdin: JSON input,
stdout: JSON result). Read-only four times over: the mount, the URI (`mode=ro`,
`immutable=1`), `PRAGMA query_only`, and an authorizer that denies every action but
reading. Blobs come back as {"base64": ...}.
"""

import base64
import json
import os
import sqlite3
import stat
import sys
import time
import urllib.parse

LIMIT_ROWS = 10000
_ALLOWED = {
    sqlite3.SQLITE_SELECT,
    sqlite3.SQLITE_READ,
    sqlite3.SQLITE_FUNCTION,
    sqlite3.SQLITE_RECURSIVE,
}
# Pragmas that only report: the first take a table or index name, the rest would set a
# value when given an argument, so they pass only without one.
_NAMED_PRAGMAS = {
    "table_info",
    "table_xinfo",
    "index_list",
    "index_info",
    "index_xinfo",
    "foreign_key_list",
    "table_list",
}
_BARE_PRAGMAS = {"user_version", "schema_version", "page_count", "page_size", "encoding"}


def fail(code, message):
    print(json.dumps({"error": code, "message": message}))
    sys.exit(1)


def authorizer(action, arg1, arg2, _db, _trigger):
    if action == sqlite3.SQLITE_FUNCTION and (arg2 or "").lower() == "load_extension":
        return sqlite3.SQLITE_DENY
    if action in _ALLOWED:
        return sqlite3.SQLITE_OK
    pragma = (arg1 or "").lower() if action == sqlite3.SQLITE_PRAGMA else None
    if pragma in _NAMED_PRAGMAS or (pragma in _BARE_PRAGMAS and arg2 is None):
        return sqlite3.SQLITE_OK
    return sqlite3.SQLITE_DENY


def cell(value):
    if isinstance(value, bytes):
        return {"base64": base64.b64encode(value).decode("ascii")}
    if isinstance(value, float) and value != value:
        return None
    return value


def read_input():
    try:
        data = json.load(sys.stdin)
    except ValueError as exc:
        fail("bad_input", f"input is not JSON: {exc}")
    if not isinstance(data, dict):
        fail("bad_input", "input must be a JSON object")
    path, sql = data.get("path"), data.get("sql")
    if not isinstance(path, str) or not path or "\0" in path:
        fail("bad_input", "'path' must be a non-empty string")
    if not isinstance(sql, str) or not sql.strip() or "\0" in sql:
        fail("bad_input", "'sql' must be a non-empty string")
    params = data.get("params", [])
    if not isinstance(params, list) or any(isinstance(p, (dict, list)) for p in params):
        fail("bad_input", "'params' must be a list of plain values")
    max_rows = data.get("max_rows", 1000)
    if (
        isinstance(max_rows, bool)
        or not isinstance(max_rows, int)
        or not 1 <= max_rows <= LIMIT_ROWS
    ):
        fail("bad_input", f"'max_rows' must be an integer from 1 to {LIMIT_ROWS}")
    timeout = data.get("timeout_sec", 20)
    if isinstance(timeout, bool) or not isinstance(timeout, (int, float)) or not 1 <= timeout <= 25:
        fail("bad_input", "'timeout_sec' must be a number from 1 to 25")
    return path, sql, params, max_rows, float(timeout)


def main():
    path, sql, params, max_rows, timeout = read_input()
    root = os.path.realpath(os.environ.get("NEXFLOW_WORKSPACE", "/workspace"))
    real = os.path.realpath(os.path.join(root, path))
    if not real.startswith(root + os.sep):
        fail("outside_workspace", f"{path!r} is outside the workspace")
    try:
        if not stat.S_ISREG(os.stat(real).st_mode):
            fail("not_a_file", f"{path!r} is not a regular file")
    except FileNotFoundError:
        fail("not_found", f"{path!r} does not exist")
    uri = "file:" + urllib.parse.quote(real) + "?mode=ro&immutable=1"
    try:
        db = sqlite3.connect(uri, uri=True, isolation_level=None)
        db.execute("PRAGMA query_only = ON")
        db.execute("PRAGMA trusted_schema = OFF")
    except sqlite3.Error as exc:
        fail("cannot_open", f"{path!r}: {exc}")
    deadline = time.monotonic() + timeout
    db.set_progress_handler(lambda: 1 if time.monotonic() > deadline else 0, 10000)
    db.set_authorizer(authorizer)
    try:
        cursor = db.execute(sql, params)
        rows = cursor.fetchmany(max_rows + 1)
    except sqlite3.Warning as exc:  # e.g. "You can only execute one statement at a time."
        fail("bad_sql", str(exc))
    except sqlite3.DatabaseError as exc:
        text = str(exc)
        if "interrupted" in text:
            fail("timeout", f"the query ran longer than {timeout:g} s")
        if "not authorized" in text or "readonly" in text:
            fail("not_read_only", f"only reading is allowed: {text}")
        fail("bad_sql", text)
    columns = [d[0] for d in cursor.description or []]
    truncated = len(rows) > max_rows
    rows = [[cell(v) for v in row] for row in rows[:max_rows]]
    print(f"sqlite-query: {len(rows)} row(s)", file=sys.stderr)
    print(
        json.dumps(
            {"columns": columns, "rows": rows, "row_count": len(rows), "truncated": truncated}
        )
    )


if __name__ == "__main__":
    main()
