"""`PgWriter`: the audit log's appends on PostgreSQL, on one asyncpg connection of its own.

Each batch is one prepared statement (`append.PG_ONE_SHOT`: the whole batch as two
arrays, the chain lock taken by the statement itself, guarded by "this process's last
record is still the head"), run on a connection the writer keeps, so a batch costs one
round trip and none of SQLAlchemy's checkout, pre-ping ping, autocommit switch and
result wrapping. asyncpg prepares each statement once per connection (its statement
cache).

When the guard fails (another process extended the chain, or this one does not know the
head yet) the batch is chained the slow way in one transaction: advisory lock, read the
head, insert. The argument for both is in `append`; nothing about it changed.

A connection that failed is closed and the next batch opens a new one (the server may
have restarted; a crashed server shows up as a closed connection). When the connection
broke *during* a batch, whether the batch was committed is unknown: the writer then
reconnects once and, under the chain lock, looks whether the batch's first record is
stored with the hash it computed; if so the batch is done (it is all or nothing), else
it is chained again after the current head. Never stored twice, never lost silently.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import asyncpg

from ..db import WRITE_LOCK_KEY
from .append import PG_ONE_SHOT, PG_UNGUARDED, Entry, Head, Link, chain
from .chain import GENESIS_HASH
from .records import AuditRecord

_HEAD = "SELECT seq, hash FROM audit_events ORDER BY seq DESC LIMIT 1"
_HASH_AT = "SELECT hash FROM audit_events WHERE seq = $1"
_LOCK = "SELECT pg_advisory_xact_lock($1)"


class PgWriter:
    """Appends batches through one asyncpg connection opened with `connect_args`."""

    def __init__(self, connect_args: dict[str, Any]) -> None:
        self._connect_args = connect_args
        self._conn: asyncpg.Connection | None = None
        self._in_flight: list[Link] = []  # sent, outcome not yet known

    async def write(self, entries: Sequence[Entry], known_head: Head | None) -> list[AuditRecord]:
        """Chain `entries` after the head and commit them; raises what the driver raised."""
        conn = await self._connection()
        self._in_flight = []
        try:
            if known_head is not None:
                self._in_flight = links = chain(entries, known_head)
                if await self._one_shot(conn, links, known_head):
                    return [k.record for k in links]
                self._in_flight = []  # the guard held it back: nothing of it was stored
            return await self._locked(conn, entries, None)
        except BaseException as exc:
            await self._drop()
            in_doubt, self._in_flight = self._in_flight, []
            if not in_doubt or not _lost_connection(exc):
                raise
        # The connection broke while a batch was in flight: committed or not is unknown.
        return await self._locked(await self._connection(), entries, in_doubt)

    async def close(self) -> None:
        """Close the connection."""
        await self._drop()

    async def _one_shot(self, conn: asyncpg.Connection, links: list[Link], head: Head) -> bool:
        """The guarded one-statement insert; False if the head moved (nothing written)."""
        with_codes = any(k.record.reason_codes for k in links)
        bodies, hashes = [k.body for k in links], [k.record.hash for k in links]
        args = (bodies, hashes, head[0], head[1])
        try:
            if with_codes:
                inserted = int(await conn.fetchval(PG_ONE_SHOT[True], *args))
            else:
                inserted = _count(await conn.execute(PG_ONE_SHOT[False], *args))
        except asyncpg.UniqueViolationError:
            return False  # a concurrent writer took this seq: nothing of ours was stored
        if inserted not in (0, len(links)):  # all or nothing, by construction
            raise RuntimeError(f"one-shot audit insert wrote {inserted} of {len(links)} rows")
        return inserted == len(links)

    async def _locked(
        self, conn: asyncpg.Connection, entries: Sequence[Entry], in_doubt: list[Link] | None
    ) -> list[AuditRecord]:
        """Lock the chain, (settle a batch in doubt,) read the head, chain and insert."""
        self._in_flight = []
        try:
            async with conn.transaction():
                await conn.execute(_LOCK, WRITE_LOCK_KEY)
                if in_doubt:
                    first = in_doubt[0].record
                    if await conn.fetchval(_HASH_AT, first.seq) == first.hash:
                        return [k.record for k in in_doubt]  # it was committed after all
                row = await conn.fetchrow(_HEAD)
                head = (int(row[0]), str(row[1])) if row else (0, GENESIS_HASH)
                self._in_flight = links = chain(entries, head)
                bodies, hashes = [k.body for k in links], [k.record.hash for k in links]
                if any(k.record.reason_codes for k in links):
                    inserted = int(await conn.fetchval(PG_UNGUARDED[True], bodies, hashes))
                else:
                    inserted = _count(await conn.execute(PG_UNGUARDED[False], bodies, hashes))
                if inserted != len(links):
                    raise RuntimeError(f"audit insert wrote {inserted} of {len(links)} rows")
                return [k.record for k in links]
        except BaseException:
            await self._drop()
            raise

    async def _connection(self) -> asyncpg.Connection:
        if self._conn is not None and self._conn.is_closed():
            self._conn = None  # the server went away while we were idle
        if self._conn is None:
            self._conn = await asyncpg.connect(**self._connect_args)
        return self._conn

    async def _drop(self) -> None:
        conn, self._conn = self._conn, None
        if conn is not None and not conn.is_closed():
            conn.terminate()  # no goodbye round trip to a server that may be gone


def _count(status: str) -> int:
    """The row count of a command tag such as ``INSERT 0 3``."""
    return int(status.rsplit(" ", 1)[-1])


def _lost_connection(exc: BaseException) -> bool:
    """The connection broke (the server crashed or restarted, the network dropped)."""
    return isinstance(
        exc,
        OSError
        | asyncpg.PostgresConnectionError
        | asyncpg.InterfaceError
        | asyncpg.exceptions.OperatorInterventionError,
    )
