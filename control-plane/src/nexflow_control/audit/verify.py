"""Walking the chain: `verify(log)` names the first broken sequence number, if any;
`verify_with_checkpoints` also holds the log against its signed checkpoints.

Rows are read in seq order in chunks (keyset, `seq > :last`), so memory stays flat for
millions of rows and appends may continue meanwhile (they only add rows after the head).
Columns are read raw (JSON as text, timestamps as stored) so that no tampered value can
make the walk itself fail.

Detected, at the exact first bad seq: an edit of any column, a deleted row (first or
middle: `bad_first_seq` / `seq_gap` names the missing number), an inserted row, and
rows swapped. NOT detectable by a bare hash chain: rows cut off the end, or a chain
rewritten from some point with recomputed hashes. Those are caught by the signed head
checkpoints kept in a file apart from the database (`checkpoint`, written by
`checkpointer.Checkpointer`): `verify_with_checkpoints` walks the chain once, checks the
signature of every checkpoint, then looks up the stored hash of every checkpointed seq
in batched queries. A checkpoint for a seq past the end of the log is `missing_tail`
(events cut off the end); one whose hash differs from the stored one is
`checkpoint_mismatch` (the chain was rewritten at or before that seq); a line that is not
validly signed by the trusted key is `bad_checkpoint_signature`. The log can only be
vouched for up to the last checkpoint: events added since are covered by the chain alone.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import Row, String, Text, select, type_coerce
from sqlalchemy.exc import SQLAlchemyError

from ..errors import AuditUnavailable
from . import checkpoint
from .chain import GENESIS_HASH, compute_hash, record_body
from .models import audit_events as t

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

    from .store import AuditLog


class Problem(StrEnum):
    """What is wrong at `VerifyReport.first_bad_seq`."""

    BAD_FIRST_SEQ = "bad_first_seq"
    SEQ_GAP = "seq_gap"
    PREV_HASH_MISMATCH = "prev_hash_mismatch"
    BAD_VALUE = "bad_value"
    HASH_MISMATCH = "hash_mismatch"
    CHECKPOINT_MISMATCH = "checkpoint_mismatch"
    MISSING_TAIL = "missing_tail"
    BAD_CHECKPOINT_SIGNATURE = "bad_checkpoint_signature"


@dataclass(frozen=True, slots=True)
class VerifyReport:
    """Outcome of a walk; `head_*` is the last record found good.

    The `checkpoint*` fields are filled by `verify_with_checkpoints`: how many checkpoints
    carried a good signature, the highest seq one of them vouches for (and its time),
    the file line of the checkpoint at fault, and `warnings` (no checkpoint file, a
    torn last line, further problems after the one reported).
    """

    ok: bool
    checked: int
    first_bad_seq: int | None
    problem: str | None
    message: str
    head_seq: int | None
    head_hash: str | None
    checkpoints_checked: int = 0
    last_checkpoint_seq: int | None = None
    last_checkpoint_ts: str | None = None
    checkpoint_line: int | None = None
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON-able form for the HTTP API and the CLI."""
        return {**asdict(self), "warnings": list(self.warnings)}


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


_MAX_WARNINGS = 20


class _Broken(Exception):
    def __init__(self, seq: int, problem: Problem, message: str) -> None:
        super().__init__(message)
        self.seq, self.problem, self.message = seq, problem, message


async def verify(log: AuditLog, *, chunk_size: int = 1000) -> VerifyReport:
    """Check the whole chain from seq 1; `AuditUnavailable` if the store cannot be read.

    Each chunk is hashed on a worker thread: a walk over millions of events must not
    stall the control plane's event loop (calls keep being served meanwhile)."""
    state = _Walk()
    try:
        while True:
            rows = await _chunk(log, state.prev_seq, chunk_size)
            await asyncio.to_thread(state.check, rows)
            if len(rows) < chunk_size:
                break
    except _Broken as bad:
        return VerifyReport(
            False, state.checked, bad.seq, bad.problem.value, bad.message, state.head_seq,
            state.head_hash,
        )  # fmt: skip
    checked = state.checked
    message = f"{checked} records, chain intact" if checked else "the audit log is empty"
    return VerifyReport(True, checked, None, None, message, state.head_seq, state.head_hash)


class _Walk:
    """How far the walk got: the last good record."""

    def __init__(self) -> None:
        self.checked, self.prev_seq, self.prev_hash = 0, 0, GENESIS_HASH

    def check(self, rows: Sequence[Row[Any]]) -> None:
        for row in rows:
            self.prev_hash = _check(row, self.prev_seq, self.prev_hash)
            self.prev_seq, self.checked = int(row.seq), self.checked + 1

    @property
    def head_seq(self) -> int | None:
        return self.prev_seq or None

    @property
    def head_hash(self) -> str | None:
        return self.prev_hash if self.prev_seq else None


async def verify_with_checkpoints(
    log: AuditLog,
    checkpoint_file: Path,
    public_key: Ed25519PublicKey | None,
    *,
    chunk_size: int = 1000,
) -> VerifyReport:
    """`verify`, then hold the log against every checkpoint in `checkpoint_file`.

    One problem is reported, the earliest in the chain first: a checkpoint mismatch before
    the first broken seq, else the chain's own break, else a missing tail, else a badly
    signed checkpoint line; any others go to `warnings`. A missing or unreadable file, or
    no `public_key`, leaves the chain's verdict alone and says so in `warnings`.
    """
    chain = await verify(log, chunk_size=chunk_size)
    good, bad, warnings = await asyncio.to_thread(_signed, checkpoint_file, public_key)
    last = max((cp for _, cp in good), key=lambda cp: cp.seq, default=None)
    end = chain.head_seq or 0  # the last seq found good
    stored = await _hashes(log, sorted({cp.seq for _, cp in good if cp.seq <= end}))
    problems: list[tuple[Problem, int | None, int | None, str]] = []  # problem, seq, line, why
    differ = sorted((cp.seq, n, cp) for n, cp in good if stored.get(cp.seq, cp.hash) != cp.hash)
    if differ:
        seq, line, cp = differ[0]
        agree = [c.seq for _, c in good if c.seq < seq and stored[c.seq] == c.hash]
        since = f" and after #{max(agree)}" if agree else ""
        why = f"event #{seq} differs from the checkpoint of {cp.ts} (line {line}): "
        why += f"the chain was rewritten at or before #{seq}{since}"
        problems.append((Problem.CHECKPOINT_MISMATCH, seq, line, why))
    if not chain.ok:
        problems.append((Problem(str(chain.problem)), chain.first_bad_seq, None, chain.message))
    elif last is not None and last.seq > end:
        why = f"the log ends at #{end} but the checkpoint of {last.ts} vouches for "
        why += f"#{last.seq}: events #{end + 1}..#{last.seq} are missing"
        problems.append((Problem.MISSING_TAIL, end + 1, None, why))
    for line, why in bad:
        why = f"line {line} of {checkpoint_file}: {why}"
        problems.append((Problem.BAD_CHECKPOINT_SIGNATURE, None, line, why))
    facts: dict[str, Any] = {
        "checkpoints_checked": len(good),
        "last_checkpoint_seq": last.seq if last else None,
        "last_checkpoint_ts": last.ts if last else None,
    }
    if not problems:
        vouched = "no checkpoint vouches for it"
        if last is not None:
            vouched = f"{len(good)} checkpoints good, the last vouches for #{last.seq} ({last.ts})"
        message = f"{chain.message}; {vouched}"
        return replace(chain, message=message, warnings=tuple(warnings), **facts)
    (problem, bad_seq, bad_line, message), rest = problems[0], problems[1:]
    warnings += [why for *_, why in rest[:_MAX_WARNINGS]]
    if len(rest) > _MAX_WARNINGS:
        warnings.append(f"... and {len(rest) - _MAX_WARNINGS} more problems")
    return replace(
        chain,
        ok=False,
        first_bad_seq=bad_seq,
        problem=problem.value,
        message=message,
        checkpoint_line=bad_line,
        warnings=tuple(warnings),
        **facts,
    )


def _signed(
    path: Path, public_key: Ed25519PublicKey | None
) -> tuple[list[tuple[int, checkpoint.Checkpoint]], list[tuple[int, str]], list[str]]:
    """Read the file and check every signature: (good, bad (line, why), warnings)."""
    found = checkpoint.read(path)
    good, bad, warnings = [], list(found.malformed), list(found.warnings)
    if public_key is None:
        if found.entries:
            warnings.append(f"no public key: {len(found.entries)} checkpoints not checked")
        return [], bad, warnings
    for line, cp in found.entries:
        why = checkpoint.signature_problem(cp, public_key)
        if why is None:
            good.append((line, cp))
        else:
            bad.append((line, why))
    return good, sorted(bad), warnings


async def _hashes(log: AuditLog, seqs: list[int], batch: int = 500) -> dict[int, str]:
    """Stored hash of each seq in `seqs` (batched `IN` lookups on the primary key)."""
    found: dict[int, str] = {}
    try:
        async with log.engine.connect() as conn:
            for i in range(0, len(seqs), batch):
                stmt = select(t.c.seq, t.c.hash).where(t.c.seq.in_(seqs[i : i + batch]))
                found.update((int(r.seq), str(r.hash)) for r in await conn.execute(stmt))
    except (SQLAlchemyError, OSError) as exc:
        raise AuditUnavailable(f"the audit store cannot be read ({type(exc).__name__})") from exc
    return {seq: found.get(seq, "") for seq in seqs}


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
