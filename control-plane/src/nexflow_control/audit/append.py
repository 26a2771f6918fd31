"""Chaining a batch of events after the head, and the statements that insert it: used by
the raw-driver writers (`sqlite_writer`, `pg_writer`) and by `insert_chained`, which runs
inside a SQLAlchemy write transaction that already holds the chain lock
(`Database.writing()`, for `AuditLog.transaction()`).

Each event arrives as an `Entry` whose payload was encoded once; `chain` splices that
text into the record's canonical body (`chain.body_text`), hashes it, and the same text
is what gets stored: SQLite's JSON columns take it as is, PostgreSQL gets the whole body
and takes the row apart with `json_populate_record`.

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
* PostgreSQL, the writer's usual case (`PG_ONE_SHOT`, run by `pg_writer`): the same
  guarded statement run on its own, in autocommit, taking the chain lock itself: one
  round trip per batch in all. Its snapshot may predate the lock, so there the seq
  primary key is what refuses a batch chained on a stale head; the caller then takes
  the locked path.

Each record's distinct reason codes also go to `audit_reason_codes` (derived, unhashed:
see `models`), in the same transaction: on SQLite a second `executemany`, on PostgreSQL
in the same statement (a data-modifying CTE over the INSERT's RETURNING), so a batch
without codes (most) costs nothing more and a guarded insert that wrote nothing writes
no codes either.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from sqlalchemy import TextClause, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from ..db import WRITE_LOCK_KEY
from .chain import GENESIS_HASH, body_text, canonical_text, hash_body
from .models import audit_events
from .records import AuditEvent, AuditRecord

Head = tuple[int, str]
"""(seq, hash) of the last record of the chain."""


@dataclass(frozen=True, slots=True)
class Entry:
    """An event ready to be chained: fields capped, payload redacted, and the JSON text
    of its payload and reason codes encoded once. That text is spliced into the hashed
    body (`chain.body_text`) and stored as the row's JSON columns as it is."""

    action: str
    call_id: str | None
    actor: str | None
    skill: str | None
    decision: str | None
    reason_codes: list[str]
    policy_revision: str | None
    payload: Any
    payload_json: str
    codes_json: str

    @classmethod
    def of(cls, event: AuditEvent) -> Entry:
        """`event` as it stands: no capping, no redaction (`AuditLog` does those; this is
        for tools and tests that build records by hand)."""
        return cls(
            action=str(event.action),
            call_id=event.call_id,
            actor=event.actor,
            skill=event.skill,
            decision=event.decision,
            reason_codes=list(event.reason_codes),
            policy_revision=event.policy_revision,
            payload=event.payload,
            payload_json=canonical_text(event.payload),
            codes_json=canonical_text(list(event.reason_codes)),
        )


class Link(NamedTuple):
    """One chained entry: its record, the canonical text that was hashed, `ts` as text."""

    record: AuditRecord
    body: str
    ts: str
    entry: Entry


SQLITE_INSERT = """
INSERT INTO audit_events (seq, ts, action, call_id, actor, skill, decision, reason_codes,
                          policy_revision, payload, prev_hash, hash)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
"""
SQLITE_INSERT_CODES = "INSERT INTO audit_reason_codes (code, seq) VALUES (?, ?)"
SQLITE_HEAD = "SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1"

_PG_INSERT = """
INSERT INTO audit_events (seq, ts, action, call_id, actor, skill, decision, reason_codes,
                          policy_revision, payload, prev_hash, hash)
SELECT r.seq, r.ts, r.action, r.call_id, r.actor, r.skill, r.decision, r.reason_codes,
       r.policy_revision, r.payload, r.prev_hash, u.hash
FROM {lock}unnest(CAST(:body AS text[]), CAST(:hash AS text[])) AS u(body, hash)
CROSS JOIN LATERAL json_populate_record(NULL::audit_events, u.body::json) AS r
"""
"""`{lock}`: nothing, or a one-row FROM item that takes the chain lock (`PG_ONE_SHOT`)."""
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
# record that took its seq and the whole statement fails (see `pg_writer`). In asyncpg's
# positional form ($1 bodies, $2 hashes, $3 head seq, $4 head hash), prepared once per
# connection by asyncpg's statement cache.
_POSITIONAL = {":body": "$1", ":hash": "$2", ":head_seq": "$3", ":head_hash": "$4"}


def _positional(statement: TextClause) -> str:
    sql = statement.text
    for name, number in _POSITIONAL.items():
        sql = re.sub(rf"(?<![:\w]){name}\b", number, sql)
    return sql


PG_ONE_SHOT = {
    codes: _positional(
        _pg_statement(
            guarded=True,
            codes=codes,
            lock=f"(SELECT pg_advisory_xact_lock({WRITE_LOCK_KEY})) AS chain_lock(held), ",
        )
    )
    for codes in (False, True)
}
"""(with codes) -> the one-round-trip guarded insert; returns the count inserted with
codes, its status tag ("INSERT 0 n") without."""
PG_UNGUARDED = {
    codes: _positional(_pg_statement(guarded=False, codes=codes)) for codes in (False, True)
}
"""(with codes) -> the insert after the head read under the lock ($1, $2 only)."""


async def insert_chained(
    conn: AsyncConnection, entries: Sequence[Entry], known_head: Head | None = None
) -> list[AuditRecord]:
    """Chain `entries` after the head and insert them; the caller holds the chain lock.

    `known_head` is the head this process committed last (None: unknown); it is only
    trusted where the database confirms it in the same statement (PostgreSQL).
    """
    if conn.dialect.name != "postgresql":
        links = chain(entries, await read_head(conn))
        await conn.exec_driver_sql(SQLITE_INSERT, [sqlite_row(k) for k in links])
        if codes := code_rows(links):
            await conn.exec_driver_sql(SQLITE_INSERT_CODES, codes)
        return [k.record for k in links]
    if known_head is not None:
        links = chain(entries, known_head)
        params: dict[str, Any] = pg_params(links)
        params |= {"head_seq": known_head[0], "head_hash": known_head[1]}
        inserted = await _pg_insert(conn, links, params, guarded=True)
        if inserted == len(links):
            return [k.record for k in links]
        if inserted != 0:  # all or nothing, by construction: anything else is a bug
            raise RuntimeError(f"guarded audit insert wrote {inserted} of {len(links)} rows")
    links = chain(entries, await read_head(conn))
    await _pg_insert(conn, links, pg_params(links), guarded=False)
    return [k.record for k in links]


def pg_params(links: Sequence[Link]) -> dict[str, Any]:
    """The PostgreSQL statement's arrays: each record's hashed body (which is also its
    row: `json_populate_record`) and its hash."""
    return {"body": [k.body for k in links], "hash": [k.record.hash for k in links]}


async def _pg_insert(
    conn: AsyncConnection, links: Sequence[Link], params: dict[str, Any], *, guarded: bool
) -> int:
    """Run the one-statement PostgreSQL insert; how many records it inserted."""
    with_codes = any(k.record.reason_codes for k in links)
    result = await conn.execute(_PG_STATEMENTS[guarded, with_codes], params)
    return int(result.scalar_one()) if with_codes else result.rowcount


async def read_head(conn: AsyncConnection) -> Head:
    """(seq, hash) of the last stored record; (0, genesis) for an empty log."""
    row = (await conn.execute(_READ_HEAD.limit(1))).first()
    return (int(row[0]), str(row[1])) if row else (0, GENESIS_HASH)


def chain(entries: Sequence[Entry], head: Head) -> list[Link]:
    """`entries` as consecutive records after `head`, each stamped now and hashed."""
    seq, prev = head
    links = []
    for e in entries:
        seq += 1
        now = datetime.now(UTC)
        ts = now.isoformat(timespec="microseconds")
        body = body_text(
            seq=seq,
            ts=ts,
            action=e.action,
            call_id=e.call_id,
            actor=e.actor,
            skill=e.skill,
            decision=e.decision,
            reason_codes_json=e.codes_json,
            policy_revision=e.policy_revision,
            payload_json=e.payload_json,
            prev_hash=prev,
        )
        digest = hash_body(prev, body)
        record = AuditRecord(
            seq,
            now,
            e.action,
            e.call_id,
            e.actor,
            e.skill,
            e.decision,
            e.reason_codes,
            e.policy_revision,
            e.payload,
            prev,
            digest,
        )
        links.append(Link(record, body, ts, e))
        prev = digest
    return links


def sqlite_row(link: Link) -> tuple[Any, ...]:
    """The `audit_events` row of `link` as SQLite stores it (`SQLITE_INSERT`): the
    timestamp as `UTCDateTime` writes it, the JSON columns as the text that was hashed."""
    r, e = link.record, link.entry
    ts = f"{link.ts[:10]} {link.ts[11:26]}"  # YYYY-MM-DD HH:MM:SS.ffffff, UTC
    return (
        r.seq, ts, r.action, r.call_id, r.actor, r.skill, r.decision, e.codes_json,
        r.policy_revision, e.payload_json, r.prev_hash, r.hash,
    )  # fmt: skip


def code_rows(links: Sequence[Link]) -> list[tuple[str, int]]:
    """The `audit_reason_codes` rows: one (code, seq) per distinct code of each record."""
    return [(c, k.record.seq) for k in links for c in dict.fromkeys(k.record.reason_codes)]
