"""Where a secret must never be found: every printed form of a value, looked for in an
HTTP answer, a call's story, the audit database (every table, raw bytes too) and the log
of a test stack."""

from __future__ import annotations

import base64
import binascii
import sqlite3
from urllib.parse import quote, quote_plus

from tests.harness import Stack


def secret_forms(value: str) -> list[str]:
    data = value.encode()
    return [
        value,
        base64.b64encode(data).decode(),
        base64.b64encode(data).decode().rstrip("="),
        base64.urlsafe_b64encode(data).decode(),
        quote(value, safe=""),
        quote_plus(value),
        binascii.hexlify(data).decode(),
        binascii.hexlify(data).decode().upper(),
        value[:12],  # half of it is already too much
    ]


def everything_stored(stack: Stack) -> str:
    """The audit database (every table, every column), the stack's log, as one text."""
    db = stack.home / "nexflow.db"
    con = sqlite3.connect(db)
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        rows = [repr(row) for t in tables for row in con.execute(f'SELECT * FROM "{t}"')]
    finally:
        con.close()
    raw = b"".join(p.read_bytes() for p in stack.home.glob("nexflow.db*"))
    return "\n".join([*rows, raw.decode("latin-1"), stack.log_path.read_text(errors="replace")])


def assert_absent(text: str, value: str, where: str) -> None:
    for form in secret_forms(value):
        assert form not in text, f"a form of the secret ({form[:6]}…) reached {where}"
