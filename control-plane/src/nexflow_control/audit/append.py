"""Chaining a batch of events after the head and inserting it, inside the caller's
write transaction (which already holds the chain lock: `Database.writing()`).

* SQLite: the head is read (a primary-key lookup in the same process, no round trip),
  then one `executemany`.
* PostgreSQL: the whole batch is ONE statement, `INSERT ... SELECT FROM unnest(arrays)`
  (one Bind, one prepared plan, whatever the batch size), instead of one Bind/Execute
  per row. When the caller knows the head it committed last (`known_head`), the head is
  not read first: the INSERT carries a guard, "(seq, hash) is still the head", which is
  evaluated in the INSERT's own snapshot. Under READ COMMITTED that snapshot is taken
  when the statement starts, after `pg_advisory_xact_lock` was granted, so it sees
  every chain extension committed by any process before; it is the same argument that
  makes reading the head after the lock correct. If another process extended the chain
  meanwhile the guard is false, nothing is inserted, and the head is read and the
  batch chained again in the same transaction. One round trip fewer per batch, and no
  weaker chain: the seq primary key would refuse a duplicate anyway.
* PostgreSQL, the writer's usual case (`insert_one_shot`): the same guarded statement
  run on its own, in autocommit, taking the chain lock itself: one round trip per batch
  in all. Its snapshot may predate the lock, so there the seq primary key is what
  refuses a batch chained on a stale head; the caller then takes the locked path.

Each record's distinct reason codes also go to `audit_reason_codes` (derived, unhashed:
see `models`), in the same transaction: on SQLite a second `executemany`, on PostgreSQL
in the same statement (a data-modifying CTE over the INSERT's RETURNING), so a batch
without codes (most) costs nothing more and a guarded insert that wrote nothing writes
no codes either.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import TextClause, insert, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from ..db import WRITE_LOCK_KEY
from .chain import GENESIS_HASH, canonical_text, hash_body, record_body
from .models import audit_events, audit_reason_codes
from .records import AuditEvent, AuditRecord

Head = tuple[int, str]
"""(seq, hash) of the last record of the chain."""

_PG_INSERT = """
INSERT INTO audit_events (seq, ts, action, call_id, actor, skill, decision, reason_codes,
                          policy_revision, payload, prev_hash, hash)
SELECT r.seq, r.ts, r.action, r.call_id, r.actor, r.skill, r.decision, r.reason_codes,
       r.policy_revision, r.payload, r.prev_hash, u.hash
FROM {lock}unnest(CAST(:body AS text[]), CAST(:hash AS text[])) AS u(body, hash)
CROSS JOIN LATERAL json_populate_record(NULL::audit_events, u.body::json) AS r
"""
"""`{lock}`: nothing, or a one-row FROM item that takes the chain lock (`_PG_ONE_SHOT`)."""
_STILL_HEAD = """
WHERE EXISTS (SELECT 1 FROM audit_events WHERE seq = :head_seq AND hash = :head_hash)
  AND NOT EXISTS (SELECT 1 FROM audit_events WHERE seq > :head_seq)
"""
_CODES_OF_INS = """ RETURNING seq, reason_codes),
codes AS (
  INSERT INTO audit_reason_codes (code, seq)
  SELECT DISTINCT c.code, ins.seq
  FROM ins CROSS JOIN LATERAL json_array_elements_text(ins.reason_codes) AS c(code)
)
SELECT count(*) FROM ins
"""
"""Appended to `WITH ins AS (` + an insert: also the reason-code rows of what it
inserted; the statement returns how many records it inserted."""


def _pg_statement(*, guarded: bool, codes: bool, lock: str = "") -> TextClause:
    insert_sql = _PG_INSERT.format(lock=lock) + (_STILL_HEAD if guarded else "")
    return text(("WITH ins AS (" + insert_sql + _CODES_OF_INS) if codes else insert_sql)


# (guarded, with codes) -> statement; without codes the row count is the result's rowcount.
_PG_STATEMENTS = {
    (guarded, codes): _pg_statement(guarded=guarded, codes=codes)
    for guarded in (False, True)
    for codes in (False, True)
}
_READ_HEAD = select(audit_events.c.seq, audit_events.c.hash).order_by(audit_events.c.seq.desc())

# The guarded statements as one self-contained transaction: the chain lock is taken by
# the statement itself (a one-row FROM item), so a batch costs ONE round trip, no
# BEGIN/lock/COMMIT. The statement's snapshot may predate the lock, so its guard can be
# stale; the seq primary key cannot: a batch chained on a stale head collides with the
# record that took its seq and the whole statement fails (see `insert_one_shot`).
_PG_ONE_SHOT = {
    codes: _pg_statement(
        guarded=True,
        codes=codes,
        lock=f"(SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY})) AS chain_lock(held), ",
    )
    for codes in (False, True)
}


async def insert_chained(
    conn: AsyncConnection, events: list[AuditEvent], known_head: Head | None = None
) -> list[AuditRecord]:
    """Chain `events` after the head and insert them; the caller holds the chain lock.

    `known_head` is the head this process committed last (None: unknown); it is only
    trusted where the database confirms it in the same statement (PostgreSQL).
    """
    if conn.dialect.name != "postgresql":
        records, _ = chain(events, await read_head(conn))
        await conn.execute(insert(audit_events), [r.to_row() for r in records])
        if codes := code_rows(records):
            await conn.execute(insert(audit_reason_codes), codes)
        return records
    if known_head is not None:
        records, bodies = chain(events, known_head)
        params: dict[str, Any] = {"body": bodies, "hash": [r.hash for r in records]}
        params |= {"head_seq": known_head[0], "head_hash": known_head[1]}
        inserted = await _pg_insert(conn, records, params, guarded=True)
        if inserted == len(records):
            return records
        if inserted != 0:  # all or nothing, by construction: anything else is a bug
            raise RuntimeError(f"guarded audit insert wrote {inserted} of {len(records)} rows")
    records, bodies = chain(events, await read_head(conn))
    params = {"body": bodies, "hash": [r.hash for r in records]}
    await _pg_insert(conn, records, params, guarded=False)
    return records


async def _pg_insert(
    conn: AsyncConnection, records: list[AuditRecord], params: dict[str, Any], *, guarded: bool
) -> int:
    """Run the one-statement PostgreSQL insert; how many records it inserted."""
    with_codes = any(r.reason_codes for r in records)
    result = await conn.execute(_PG_STATEMENTS[guarded, with_codes], params)
    return int(result.scalar_one()) if with_codes else result.rowcount


def code_rows(records: list[AuditRecord]) -> list[dict[str, Any]]:
    """The `audit_reason_codes` rows of `records`: one per distinct code of each record."""
    return [{"code": c, "seq": r.seq} for r in records for c in dict.fromkeys(r.reason_codes)]


async def insert_one_shot(
    conn: AsyncConnection, events: list[AuditEvent], known_head: Head
) -> list[AuditRecord] | None:
    """PostgreSQL, autocommit connection: chain `events` after `known_head` and insert
    them in one statement that takes the chain lock itself. None when the head moved (the
    guard said so, or another writer's record holds the seq: the statement failed and
    wrote nothing); the caller then appends the slow way, reading the head under the lock.
    """
    records, bodies = chain(events, known_head)
    params: dict[str, Any] = {"body": bodies, "hash": [r.hash for r in records]}
    params |= {"head_seq": known_head[0], "head_hash": known_head[1]}
    with_codes = any(r.reason_codes for r in records)
    try:
        result = await conn.execute(_PG_ONE_SHOT[with_codes], params)
    except IntegrityError:
        return None  # a concurrent writer took this seq: nothing of ours was stored
    inserted = int(result.scalar_one()) if with_codes else result.rowcount
    if inserted == 0:
        return None
    if inserted != len(records):  # all or nothing, by construction: anything else is a bug
        raise RuntimeError(f"one-shot audit insert wrote {inserted} of {len(records)} rows")
    return records


async def read_head(conn: AsyncConnection) -> Head:
    """(seq, hash) of the last stored record; (0, genesis) for an empty log."""
    row = (await conn.execute(_READ_HEAD.limit(1))).first()
    return (int(row[0]), str(row[1])) if row else (0, GENESIS_HASH)


def chain(events: list[AuditEvent], head: Head) -> tuple[list[AuditRecord], list[str]]:
    """`events` as consecutive records after `head`, each stamped now and hashed; and the
    canonical text of each record's body (what was hashed)."""
    seq, prev = head
    records, bodies = [], []
    for event in events:
        seq += 1
        fields: dict[str, Any] = {
            "seq": seq,
            "ts": datetime.now(UTC),
            "action": event.action,
            "call_id": event.call_id,
            "actor": event.actor,
            "skill": event.skill,
            "decision": event.decision,
            "reason_codes": list(event.reason_codes),
            "policy_revision": event.policy_revision,
            "payload": event.payload,
            "prev_hash": prev,
        }
        body = canonical_text(record_body(**fields))
        record = AuditRecord(**fields, hash=hash_body(prev, body))
        records.append(record)
        bodies.append(body)
        prev = record.hash
    return records, bodies
