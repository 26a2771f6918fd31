"""Walking the chain: `verify(log)` names the first broken sequence number, if any.

Rows are read in seq order in chunks (keyset, `seq > :last`), so memory stays flat for
millions of rows and appends may continue meanwhile (they only add rows after the head).
Columns are read raw (JSON as text, timestamps as stored) so that no tampered value can
make the walk itself fail.

Detected, at the exact first bad seq: an edit of any column, a deleted row (first or
middle: `bad_first_seq` / `seq_gap` names the missing number), an inserted row, and
rows swapped. NOT detectable by a bare hash chain: rows cut off the end, or a chain
rewritten from some point with recomputed hashes; that needs signed head checkpoints
kept elsewhere (a later issue).
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from sqlalchemy import Row, String, Text, select, type_coerce
from sqlalchemy.exc import SQLAlchemyError

from ..errors import AuditUnavailable
from .chain import GENESIS_HASH, compute_hash, record_body
from .models import audit_events as t

if TYPE_CHECKING:
    from .store import AuditLog


class Problem(StrEnum):
    """What is wrong at `VerifyReport.first_bad_seq`."""

    BAD_FIRST_SEQ = "bad_first_seq"
    SEQ_GAP = "seq_gap"
    PREV_HASH_MISMATCH = "prev_hash_mismatch"
    BAD_VALUE = "bad_value"
    HASH_MISMATCH = "hash_mismatch"


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """Outcome of a walk; `head_*` is the last record found good."""

    ok: bool
    checked: int
    first_bad_seq: int | None
    problem: str | None
    message: str
    head_seq: int | None
    head_hash: str | None

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form for the HTTP API and the CLI."""
        return asdict(self)


_RAW = select(
    t.c.seq,
    type_coerce(t.c.ts, String()).label("ts"),
    t.c.action,
    t.c.call_id,
    t.c.actor,
    t.c.skill,
    t.c.decision,
    type_coerce(t.c.reason_codes, Text()).label("reason_codes"),
    t.c.policy_revision,
    type_coerce(t.c.payload, Text()).label("payload"),
    t.c.prev_hash,
    t.c.hash,
)


class _Broken(Exception):
    def __init__(self, seq: int, problem: Problem, message: str) -> None:
        super().__init__(message)
        self.seq, self.problem, self.message = seq, problem, message


async def verify(log: AuditLog, *, chunk_size: int = 5000) -> VerifyReport:
    """Check the whole chain from seq 1; `AuditUnavailable` if the store cannot be read."""
    checked, prev_seq, prev_hash = 0, 0, GENESIS_HASH
    try:
        while True:
            rows = await _chunk(log, prev_seq, chunk_size)
            for row in rows:
                prev_hash = _check(row, prev_seq, prev_hash)
                prev_seq, checked = int(row.seq), checked + 1
            if len(rows) < chunk_size:
                break
    except _Broken as bad:
        return VerifyReport(
            False, checked, bad.seq, bad.problem.value, bad.message, prev_seq or None,
            prev_hash if prev_seq else None,
        )  # fmt: skip
    message = f"{checked} records, chain intact" if checked else "the audit log is empty"
    return VerifyReport(
        True, checked, None, None, message, prev_seq or None, prev_hash if prev_seq else None
    )


async def _chunk(log: AuditLog, after: int, size: int) -> list[Row[Any]]:
    stmt = _RAW.where(t.c.seq > after).order_by(t.c.seq).limit(size)
    try:
        async with log.engine.connect() as conn:
            return list((await conn.execute(stmt)).all())
    except (SQLAlchemyError, OSError) as exc:
        raise AuditUnavailable(f"the audit store cannot be read ({type(exc).__name__})") from exc


def _check(row: Row[Any], prev_seq: int, prev_hash: str) -> str:
    """Check one row against its predecessor; return its hash or raise `_Broken`."""
    seq = int(row.seq)
    if seq != prev_seq + 1:
        if prev_seq == 0:
            raise _Broken(1, Problem.BAD_FIRST_SEQ, f"the first record is seq {seq}, not 1")
        raise _Broken(prev_seq + 1, Problem.SEQ_GAP, f"seq {prev_seq + 1} is missing")
    if row.prev_hash != prev_hash:
        raise _Broken(seq, Problem.PREV_HASH_MISMATCH, f"seq {seq} does not link to seq {prev_seq}")
    try:
        body = record_body(
            seq=seq,
            ts=_ts(row.ts),
            action=_text(row.action, nullable=False),
            call_id=_text(row.call_id),
            actor=_text(row.actor),
            skill=_text(row.skill),
            decision=_text(row.decision),
            reason_codes=_json(row.reason_codes),
            policy_revision=_text(row.policy_revision),
            payload=_json(row.payload),
            prev_hash=prev_hash,
        )
        actual = compute_hash(prev_hash, body)
    except (ValueError, TypeError) as exc:
        raise _Broken(seq, Problem.BAD_VALUE, f"seq {seq} holds an unreadable value") from exc
    if actual != row.hash:
        raise _Broken(seq, Problem.HASH_MISMATCH, f"seq {seq} was changed after it was written")
    return actual


def _ts(raw: Any) -> datetime:
    value = raw if isinstance(raw, datetime) else datetime.fromisoformat(_text(raw, False))
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


def _text(raw: Any, nullable: bool = True) -> Any:
    if raw is None and nullable:
        return None
    if not isinstance(raw, str):
        raise TypeError("not text")
    return raw


def _json(raw: Any) -> Any:
    return json.loads(raw) if isinstance(raw, str | bytes) else raw
