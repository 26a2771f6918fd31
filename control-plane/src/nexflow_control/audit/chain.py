"""The hash chain: canonical encoding of one audit record and the hash that links it.

How to verify an export (one JSON object per record, as `AuditRecord.to_dict()`), in any
language, without this code:

1. Sort the records by ``seq``; the first must have ``seq == 1`` and each next one
   ``seq == previous + 1`` (a gap means a row was removed).
2. Expect ``prev_hash`` of record 1 to be 64 ``"0"`` characters (the genesis hash), and
   ``prev_hash`` of every later record to equal the ``hash`` of the record before it.
3. Take the record without its ``hash`` key and encode it canonically: JSON with object
   keys sorted by Unicode code point at every level, no whitespace at all (separators
   ``,`` and ``:``), non-ASCII characters written as themselves (not ``\\uXXXX``), only
   ``"``, ``\\`` and control characters escaped (as ``json.dumps(..., ensure_ascii=False)``
   does), then UTF-8. ``ts`` is already the ISO-8601 string with microseconds and
   ``+00:00``, e.g. ``2025-01-31T09:15:02.123456+00:00``.
4. ``hash = hex(sha256(ascii(prev_hash) || canonical_bytes))``, lowercase hex; compare it
   with the stored ``hash``.

In Python::

    prev = "0" * 64
    for i, rec in enumerate(records, start=1):
        body = {k: v for k, v in rec.items() if k != "hash"}
        assert rec["seq"] == i and rec["prev_hash"] == prev
        data = json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
        prev = hashlib.sha256(prev.encode() + data.encode()).hexdigest()
        assert prev == rec["hash"]

Payloads hold only JSON objects, arrays, strings, integers, finite floats (written the
shortest way that reads back exactly, as Python's ``repr``), booleans and null; the
redactor turns everything else into strings before anything is hashed.

What the chain proves: any edit, insertion, deletion or reordering of stored rows breaks
it at a sequence number that `verify` names. What it cannot prove alone: that rows were
not cut off the *end* (the shortened chain is still valid), nor that someone who can
write the database did not recompute every hash after an edit. Both need signed
checkpoints of the head, kept elsewhere (a later issue).
"""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from json.encoder import encode_basestring
from typing import Any

from ..db import canonical_json

GENESIS_HASH = "0" * 64
"""`prev_hash` of the first record."""

HASHED_FIELDS = (
    "seq",
    "ts",
    "action",
    "call_id",
    "actor",
    "skill",
    "decision",
    "reason_codes",
    "policy_revision",
    "payload",
    "prev_hash",
)
"""Every stored column except `hash` itself."""


canonical_text = canonical_json
"""Deterministic JSON text: sorted keys, no whitespace, non-ASCII kept as is (the
database's own JSON encoding, `db.canonical_json`)."""


def canonical_bytes(value: Any) -> bytes:
    """`canonical_text` encoded as UTF-8: the bytes that are hashed."""
    return canonical_text(value).encode("utf-8")


def format_ts(ts: datetime) -> str:
    """ISO-8601 in UTC with microseconds and `+00:00`; naive datetimes are refused."""
    if ts.tzinfo is None:
        raise ValueError("audit timestamps must be timezone-aware")
    return ts.astimezone(UTC).isoformat(timespec="microseconds")


def record_body(
    *,
    seq: int,
    ts: datetime,
    action: str,
    call_id: str | None,
    actor: str | None,
    skill: str | None,
    decision: str | None,
    reason_codes: list[str],
    policy_revision: str | None,
    payload: dict[str, Any],
    prev_hash: str,
) -> dict[str, Any]:
    """The record as it is hashed: every field but `hash`, with `ts` as its string form."""
    return {
        "seq": seq,
        "ts": format_ts(ts),
        "action": action,
        "call_id": call_id,
        "actor": actor,
        "skill": skill,
        "decision": decision,
        "reason_codes": reason_codes,
        "policy_revision": policy_revision,
        "payload": payload,
        "prev_hash": prev_hash,
    }


def compute_hash(prev_hash: str, body: dict[str, Any]) -> str:
    """`sha256(prev_hash || canonical(body))` as 64 lowercase hex characters."""
    return hash_body(prev_hash, canonical_text(body))


def hash_body(prev_hash: str, body_text: str) -> str:
    """`compute_hash` of a body already encoded by `canonical_text`."""
    return hashlib.sha256(f"{prev_hash}{body_text}".encode()).hexdigest()


def body_text(
    *,
    seq: int,
    ts: str,
    action: str,
    call_id: str | None,
    actor: str | None,
    skill: str | None,
    decision: str | None,
    reason_codes_json: str,
    policy_revision: str | None,
    payload_json: str,
    prev_hash: str,
) -> str:
    """`canonical_text(record_body(...))`, written from parts already encoded.

    The append path encodes each payload once (the redactor needs its size anyway) and
    splices that text in here, instead of encoding the whole record again for the hash
    and a third time for the row. Byte-identical to the generic encoder: the keys in
    sorted order, strings as `json.dumps(..., ensure_ascii=False)` writes them
    (`encode_basestring`), and a nested value's canonical text is the same inside the
    record as on its own (`test_audit_chain` checks this against `canonical_text`).
    `ts` is the `format_ts` string.
    """
    return (
        f'{{"action":{encode_basestring(action)},"actor":{_str_or_null(actor)},'
        f'"call_id":{_str_or_null(call_id)},"decision":{_str_or_null(decision)},'
        f'"payload":{payload_json},"policy_revision":{_str_or_null(policy_revision)},'
        f'"prev_hash":{encode_basestring(prev_hash)},"reason_codes":{reason_codes_json},'
        f'"seq":{int(seq)},"skill":{_str_or_null(skill)},"ts":{encode_basestring(ts)}}}'
    )


def _str_or_null(value: str | None) -> str:
    return "null" if value is None else encode_basestring(value)
