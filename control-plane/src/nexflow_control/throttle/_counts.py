"""`SharedCounts`: sliding-window counts kept in the database, so every control plane on
it counts together.

`take(kind, key, windows)` is one write transaction: it serializes with every other
`take` of the same (kind, key) (SQLite: the database write lock, `BEGIN IMMEDIATE`;
PostgreSQL: a transaction-scoped advisory lock on the key's hash), reads how many hits
each window holds, and adds this one (unless a `limit` is reached). Two takes of one key
can therefore never both see the count below a limit and both get in: there is no
over-admission, whatever the number of processes. `peek` only reads.

Windows are whole seconds counted back from the current second (a hit at second `s`
is in a window of `w` seconds while `now < s + w`); the clock is the control plane's
own (`time.time`), so control planes are expected to keep their clocks in step (NTP):
a clock `d` seconds off moves that process's windows by `d`.
"""

from __future__ import annotations

import hashlib
import math
import sqlite3
import time
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

from sqlalchemy import case, delete, func, select, text
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Executable

from ..db import WRITE_TX, Database, error_summary
from ..db._raw import sqlite_file
from ..errors import AuditUnavailable
from ._raw import RawCounts
from .models import MAX_KEY_LEN
from .models import throttle_counts as t

_LOCK_CLASS = 0x4E5854  # "NXT": the advisory-lock class of throttle keys (int4, int4 form)
PRUNE_EVERY_S = 60.0


@dataclass(frozen=True, slots=True)
class Seen:
    """What a `take` or `peek` saw, before its own hit."""

    counts: tuple[int, ...]
    """Hits in each window asked for, in the order asked."""
    oldest: int | None
    """The second of the oldest hit in the longest window (None when there is none)."""
    taken: bool
    """Whether this hit was added (False only when `limit` was reached)."""

    def retry_after(self, window_s: float, now: float) -> float:
        """Seconds until the oldest hit leaves a window of `window_s` (0 if none)."""
        return 0.0 if self.oldest is None else max(0.0, self.oldest + window_s - now)


class SharedCounts:
    """See the module docstring. `clock` returns Unix seconds (tests move it)."""

    def __init__(
        self,
        db: Database,
        *,
        clock: Callable[[], float] = time.time,
        prune_every_s: float = PRUNE_EVERY_S,
    ) -> None:
        self._db, self._clock, self._prune_every_s = db, clock, prune_every_s
        self._longest: dict[str, int] = {}
        self._pruned: dict[str, float] = {}
        # A SQLite file: `take` (once per call, for its rate) in one hop to a thread of
        # its own on the raw driver instead of ~6 through SQLAlchemy async + aiosqlite.
        path = sqlite_file(db)
        self._raw = None if path is None else RawCounts(path, busy_timeout_ms=db.busy_timeout_ms)

    def now(self) -> float:
        return self._clock()

    async def take(
        self, kind: str, key: str, windows: Sequence[float], *, limit: int | None = None
    ) -> Seen:
        """Count (kind, key) in each window, then add one hit now, unless `limit` is
        given and the first window already holds that many. One atomic step."""
        now = self._clock()
        second = math.floor(now)
        key = _stored_key(key)
        spans = [math.ceil(w) for w in windows]
        longest = self._longest[kind] = max(self._longest.get(kind, 0), *spans)
        prune = now - self._pruned.get(kind, -math.inf) >= self._prune_every_s
        if prune:
            self._pruned[kind] = now
        if self._raw is not None:
            try:
                async with self._db.write_turn:
                    counts, oldest, taken = await self._raw.take(
                        kind, key, second, spans, limit, second - longest if prune else None
                    )
            except (OSError, sqlite3.Error) as exc:
                raise _unavailable(exc) from exc
            return Seen(counts, oldest, taken)
        try:
            async with self._locked(kind, key) as conn:
                seen = await _count(conn, kind, key, second, spans)
                taken = limit is None or seen[0][0] < limit
                if taken:
                    await conn.execute(_upsert(conn, kind, key, second))
                if prune:
                    await conn.execute(
                        delete(t).where(t.c.kind == kind, t.c.bucket <= second - longest)
                    )
        except (OSError, SQLAlchemyError) as exc:
            raise _unavailable(exc) from exc
        return Seen(seen[0], seen[1], taken)

    async def peek(self, kind: str, key: str, window: float) -> Seen:
        """The hits of (kind, key) in the window, adding none."""
        key = _stored_key(key)
        try:
            async with self._db.engine.connect() as conn:
                counts, oldest = await _count(
                    conn, kind, key, math.floor(self._clock()), [math.ceil(window)]
                )
        except (OSError, SQLAlchemyError) as exc:
            raise _unavailable(exc) from exc
        return Seen(counts, oldest, False)

    async def pop(self, kind: str, key: str) -> int:
        """Every hit of (kind, key) still stored, deleting them."""
        key = _stored_key(key)
        try:
            async with self._locked(kind, key) as conn:
                where = (t.c.kind == kind, t.c.key == key)
                total = (await conn.execute(select(func.sum(t.c.n)).where(*where))).scalar()
                await conn.execute(delete(t).where(*where))
        except (OSError, SQLAlchemyError) as exc:
            raise _unavailable(exc) from exc
        return int(total or 0)

    @asynccontextmanager
    async def _locked(self, kind: str, key: str) -> AsyncIterator[AsyncConnection]:
        """A write transaction holding the lock of (kind, key)."""
        if self._db.engine.dialect.name == "sqlite":
            # The write lock is the whole database's: queue behind this process's other
            # writers here rather than in SQLite's busy handler (see `Database.write_turn`).
            async with self._db.write_turn, self._db.engine.connect() as conn:
                await conn.execution_options(**WRITE_TX)
                async with conn.begin():
                    yield conn
            return
        async with self._db.engine.connect() as conn, conn.begin():
            await conn.execute(
                text("SELECT pg_advisory_xact_lock(:cls, hashtext(:k))"),
                {"cls": _LOCK_CLASS, "k": f"{kind}\n{key}"},
            )
            yield conn


async def _count(
    conn: AsyncConnection, kind: str, key: str, second: int, spans: Sequence[int]
) -> tuple[tuple[int, ...], int | None]:
    sums = [
        func.coalesce(func.sum(case((t.c.bucket > second - s, t.c.n), else_=0)), 0) for s in spans
    ]
    stmt = select(*sums, func.min(t.c.bucket)).where(
        t.c.kind == kind, t.c.key == key, t.c.bucket > second - max(spans)
    )
    row = (await conn.execute(stmt)).one()
    oldest = row[-1]
    return tuple(int(v) for v in row[:-1]), None if oldest is None else int(oldest)


def _upsert(conn: AsyncConnection, kind: str, key: str, second: int) -> Executable:
    values = {"kind": kind, "key": key, "bucket": second, "n": 1}
    conflict: dict[str, Any] = {
        "index_elements": [t.c.kind, t.c.key, t.c.bucket],
        "set_": {"n": t.c.n + 1},
    }
    if conn.dialect.name == "postgresql":
        return postgresql.insert(t).values(values).on_conflict_do_update(**conflict)
    return sqlite.insert(t).values(values).on_conflict_do_update(**conflict)


def _stored_key(key: str) -> str:
    """Keys come from the network (names tried, addresses): a long one, or one PostgreSQL
    text cannot hold (a NUL), is stored hashed."""
    if len(key) <= MAX_KEY_LEN and "\x00" not in key:
        return key
    return "sha256:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def _unavailable(exc: BaseException) -> AuditUnavailable:
    return AuditUnavailable(f"the shared counts cannot be used ({error_summary(exc)})")
