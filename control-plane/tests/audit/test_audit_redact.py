"""Redaction of secrets (by key and by shape), JSON-ability of anything, and size caps."""

from __future__ import annotations

import json
import math
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from nexflow_control.audit import REDACTED, AuditEvent, AuditLog, canonical_bytes, redact

SECRET_SHAPES = {
    "bearer": "Authorization header was Bearer abcDEF123.456-xyz_~+/=",
    "openai": "key sk-proj-AbCdEf0123456789xyzXYZ used",
    "anthropic": "key sk-ant-api03-AbCdEf0123456789_xy used",
    "stripe": "key sk_live_51HxAbCdEf0123456789 used",
    "github_classic": "token ghp_0123456789abcdefghijABCDEFGHIJ012345 in config",
    "github_fine": "token github_pat_11ABCDEFG0123456789_abcdefghijklmnopqrstuv in config",
    "slack": "slack xoxb-123456789012-1234567890123-AbCdEfGhIjKlMnOp done",
    "aws": "aws AKIAIOSFODNN7EXAMPLE here",
    "pem": (
        "-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA7\nabc==\n-----END RSA PRIVATE KEY-----"
    ),
    "pem_cut": "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAA",
    "jwt": (
        "jwt eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxMjM0In0"
        ".dBjftJeZ4CVPmB92K27uhbUJU1p1r_wW1gFWFOEjXk end"
    ),
    "url_userinfo": "clone https://bob:hunter2hunter2@git.example.com/repo.git",
    "pair": "run --password=hunter2hunter2 --verbose",
    "basic": "Authorization: Basic dXNlcjpodW50ZXIyaHVudGVyMg==",
    "nexflow": "agent sent nxf_0123456789abcdef_Ab-Cd_Ef0123456789xyzXYZ0123456789abcdEFGHi0 once",
}
SECRET_PARTS = {
    "bearer": "abcDEF123",
    "openai": "AbCdEf0123456789",
    "anthropic": "AbCdEf0123456789",
    "stripe": "51HxAbCdEf",
    "github_classic": "ghp_0123456789",
    "github_fine": "github_pat_11ABC",
    "slack": "xoxb-1234",
    "aws": "AKIAIOSFODNN7EXAMPLE",
    "pem": "MIIEowIBAAKCAQEA7",
    "pem_cut": "b3BlbnNzaC1r",
    "jwt": "eyJzdWIiOiIxMjM0In0",
    "url_userinfo": "hunter2",
    "pair": "hunter2",
    "basic": "dXNlcjpodW50",
    "nexflow": "Ab-Cd_Ef0123",
}


@pytest.mark.parametrize("shape", sorted(SECRET_SHAPES))
def test_credential_shapes_are_replaced_anywhere(shape: str) -> None:
    """Each credential shape is replaced inside plain text, deep in lists and dicts."""
    text = SECRET_SHAPES[shape]
    out = redact({"notes": [{"deep": [text]}], "plain": text})
    dumped = json.dumps(out)
    assert SECRET_PARTS[shape] not in dumped
    assert REDACTED in out["plain"] and REDACTED in out["notes"][0]["deep"][0]


def test_text_around_a_secret_is_kept() -> None:
    """Only the credential goes; the words around it stay readable."""
    assert redact({"m": SECRET_SHAPES["aws"]}) == {"m": f"aws {REDACTED} here"}
    assert redact({"m": SECRET_SHAPES["pair"]}) == {"m": f"run --password={REDACTED} --verbose"}
    assert redact({"m": SECRET_SHAPES["nexflow"]}) == {
        "m": f"agent sent nxf_0123456789abcdef_{REDACTED} once"
    }


@pytest.mark.parametrize(
    "key",
    ["password", "PASSWD", "client_secret", "access_token", "X-Api-Key", "apikey", "api_key",
     "Authorization", "Cookie", "private_key", "privateKey", "credentials", "session_id"],
)  # fmt: skip
def test_values_under_secret_keys_are_redacted_at_any_depth(key: str) -> None:
    """A value under a secret-looking key becomes [REDACTED], whatever its type or depth."""
    payload = {"outer": [{"inner": {key: {"nested": "value"}}}], key: 12345}
    out = redact(payload)
    assert out["outer"][0]["inner"][key] == REDACTED
    assert out[key] == REDACTED


def test_innocent_text_is_untouched() -> None:
    """Ordinary words that merely resemble secret prefixes are left alone."""
    payload = {"path": "notes/ask-me.md", "text": "the desk is basic, sketch it", "n": 3}
    assert redact(payload) == payload


def test_un_json_able_values_never_fail() -> None:
    """Sets, bytes, odd numbers, objects, cycles and bad reprs become JSON-able text."""

    class Odd:
        def __repr__(self) -> str:
            raise RuntimeError("no repr")

    cycle: list[Any] = []
    cycle.append(cycle)
    payload = {
        "set": {3},
        "bytes": b"\x00raw",
        "nan": math.nan,
        "inf": -math.inf,
        "when": datetime(2025, 1, 2, tzinfo=UTC),
        "big": 10**200,
        "odd": Odd(),
        "cycle": cycle,
        (1, 2): "tuple key",
        7: "int key",
        "surrogate": "bad \ud800 char",
    }
    out = redact(payload)
    canonical_bytes(out)  # strict JSON: raises on NaN or lone surrogates
    assert out["set"] == [3] and out["nan"] == "nan" and out["inf"] == "-inf"
    assert out["when"] == "2025-01-02T00:00:00+00:00"
    assert out["odd"] == "<unrepresentable Odd>"
    assert out["(1, 2)"] == "tuple key" and out["7"] == "int key"
    assert "[too deep]" in json.dumps(out["cycle"])


def test_long_string_is_cut_with_exact_marker() -> None:
    """A string over the cap is cut on a character boundary and says how many bytes went."""
    text = "é" * 40_000  # 80,000 bytes
    out = redact({"t": text}, max_bytes=1000)
    value = out["t"]
    kept, marker = value.split("…[truncated ")
    assert set(kept) == {"é"}
    assert marker == f"{80_000 - len(kept.encode())} bytes]"
    assert len(canonical_bytes(out)) <= 1000


def test_payload_total_is_capped_at_64_kib() -> None:
    """Many medium strings together are shortened until the payload fits in 64 KiB."""
    payload = {f"k{i}": "word " * 2000 for i in range(100)}  # ~1 MB
    out = redact(payload)
    assert len(canonical_bytes(out)) <= 64 * 1024
    assert all("…[truncated" in v for v in out.values())


def test_huge_containers_keep_their_first_items() -> None:
    """A list longer than the item cap keeps its first items and says how many went."""
    out = redact({"items": list(range(200_000))})
    assert out["items"][:3] == [0, 1, 2]
    assert out["items"][-1] == "…[190000 more items]"


def test_too_many_items_still_fit() -> None:
    """A payload too big even after cutting strings is replaced by a bounded preview."""
    out = redact({"items": ["abcdefgh"] * 200_000})
    assert len(canonical_bytes(out)) <= 64 * 1024
    assert "_truncated" in out and out["preview"].startswith('{"items":["abcdefgh"')


async def test_secrets_never_reach_the_database_file(log: AuditLog, db_path: Path) -> None:
    """After appending secrets, no byte of them is in the SQLite file or its WAL."""
    await log.append(
        AuditEvent(
            action="call.requested",
            payload={
                "input": {"api_key": "plainvalue-123456"},
                "log": SECRET_SHAPES["github_classic"],
            },
        )
    )
    blob = b"".join(p.read_bytes() for p in db_path.parent.iterdir() if p.is_file())
    assert b"plainvalue-123456" not in blob
    assert b"ghp_0123456789" not in blob
    assert b"[REDACTED]" in blob


async def test_non_object_payload_is_wrapped(log: AuditLog) -> None:
    """A payload that is not a JSON object is stored as {"value": ...}."""
    record = await log.append(AuditEvent(action="call.finished", payload=["a", 1]))
    assert record.payload == {"value": ["a", 1]}


@pytest.mark.timeout(60)
def test_hostile_text_is_scanned_in_linear_time() -> None:
    """Inputs built to make regexes backtrack are redacted quickly (no quadratic blow-up)."""
    hostile = [
        "a-pass-" * 9000,
        "eyJ" * 20000,
        "sk-" * 20000,
        "xoxb-" * 12000,
        "://" + "a" * 60000,
        "-----BEGIN " + "A" * 60000,
        "token " * 10000,
    ]
    started = time.perf_counter()
    for text in hostile:
        redact({"t": text})
    assert time.perf_counter() - started < 5  # quadratic scanning takes minutes here
