"""`AuditLog`: appends events to the hash chain with group commit.

Callers `await append(event)`; the call returns only once the row is committed. The
event is capped and redacted on the caller's side (`_prepare`: its payload encoded once,
see `append.Entry`). One writer task per `AuditLog` drains a queue: it takes every job
waiting (up to `max_batch` events) and hands them as one batch to the writer on the raw
driver (`sqlite_writer.SqliteWriter`: a thread with its own `sqlite3` connection;
`pg_writer.PgWriter`: one asyncpg connection and a prepared statement), which locks the
chain, takes the head, gives each event seq = previous + 1, its timestamp and hash,
inserts them all and commits; then it resolves each waiter. When anything fails, every
waiter of that batch gets `AuditUnavailable` and the caller refuses the call: no audit,
no execution. The head is read inside every write transaction under the lock (a
primary-key lookup), or on PostgreSQL confirmed by the INSERT itself, so several
processes can share one database and still build one chain.

`transaction()` is for changes that live in the same database (accounts): the caller's
rows and the events recording them are committed in one transaction under the same
chain lock, on the SQLAlchemy engine (`append.insert_chained`), so a change is never
stored without its audit events, nor the other way.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable, Sequence
from dataclasses import dataclass, field

import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ..db import Database, error_type
from ..db import error_summary as _why
from ..db._raw import pg_connect_args, sqlite_file
from ..errors import AuditUnavailable, NexflowError
from .append import Entry, insert_chained
from .chain import canonical_text
from .pg_writer import PgWriter
from .records import MAX_ID_LEN, MAX_REASON_CODE_LEN, MAX_REASON_CODES, AuditEvent, AuditRecord
from .redact import MAX_PAYLOAD_BYTES, redact_encoded
from .sqlite_writer import SqliteWriter

log = structlog.get_logger("nexflow.audit")


@dataclass(slots=True)
class _Job:
    events: list[Entry]
    future: asyncio.Future[list[AuditRecord]] = field(repr=False)


class AuditLog:
    """The hash-chained audit log in the `Database` it is given (`AuditLog(db)`), or in
    one of its own (`await AuditLog.open(url)`, closed with the log)."""

    def __init__(
        self,
        db: Database,
        *,
        max_batch: int = 1000,
        max_payload_bytes: int = MAX_PAYLOAD_BYTES,
    ) -> None:
        self._db = db
        self._owns_db = False
        self._max_batch = max_batch
        self._max_payload_bytes = max_payload_bytes
        self._queue: asyncio.Queue[_Job | None] = asyncio.Queue()
        self._closed = False
        self._head: tuple[int, str] | None = None
        self._raw = _raw_writer(db)
        self.commits = 0
        """Batches committed by the writer (each one transaction; for tests and benches)."""
        self._writer = asyncio.create_task(self._run(), name="audit-writer")

    @classmethod
    async def open(
        cls,
        url: str,
        *,
        busy_timeout_ms: int = 5000,
        max_batch: int = 1000,
        max_payload_bytes: int = MAX_PAYLOAD_BYTES,
    ) -> AuditLog:
        """The log on a database of its own (`Database.open`: connect, migrate to head);
        `AuditUnavailable` if the store cannot be used. For tools and tests: the control
        plane opens one `Database` and hands it to `AuditLog(db)`.

        `busy_timeout_ms` bounds how long SQLite waits for another writer's lock before
        an append fails.
        """
        db = await Database.open(url, busy_timeout_ms=busy_timeout_ms)
        log = cls(db, max_batch=max_batch, max_payload_bytes=max_payload_bytes)
        log._owns_db = True
        return log

    @property
    def engine(self) -> AsyncEngine:
        """The database engine (for `query`, `tail` and `verify`)."""
        return self._db.engine

    @property
    def head(self) -> tuple[int, str] | None:
        """(seq, hash) of the last record this instance committed, if any."""
        return self._head

    async def append(self, event: AuditEvent) -> AuditRecord:
        """Store one event; returns once it is committed, else raises `AuditUnavailable`."""
        (record,) = await self.append_many([event])
        return record

    async def append_many(self, events: Sequence[AuditEvent]) -> list[AuditRecord]:
        """Store events as consecutive records in one transaction: all or none."""
        if self._closed or self._writer.done():
            raise AuditUnavailable("the audit log is closed")
        if not events:
            return []
        job = _Job([self._prepare(e) for e in events], asyncio.get_running_loop().create_future())
        self._queue.put_nowait(job)
        return await job.future

    @contextlib.asynccontextmanager
    async def transaction(self) -> AsyncIterator[AuditTransaction]:
        """A write transaction that commits the caller's change and its events together.

        Inside the block `tx.conn` holds the chain lock (as an append does); the caller
        changes its own tables through it and `tx.record(event)`s what it did. The events
        are chained and inserted just before COMMIT: both are stored, or neither is.
        Errors raised by the block reach the caller unchanged (an `IntegrityError` is
        the caller's to map); a failure to begin, lock, chain or commit is
        `AuditUnavailable`.
        """
        if self._closed or self._writer.done():
            raise AuditUnavailable("the audit log is closed")
        in_block = False
        try:
            async with self._db.write_turn, self._db.writing() as conn:
                tx = AuditTransaction(conn, self._prepare)
                in_block = True
                yield tx
                in_block = False
                records = await insert_chained(conn, tx.events, self._head) if tx.events else []
        except (OSError, SQLAlchemyError) as exc:
            if in_block:
                raise
            log.error("audit.append_failed", error=_why(exc), events="transaction")
            raise AuditUnavailable(f"the audit store cannot be written ({_why(exc)})") from exc
        if records:
            self._head = (records[-1].seq, records[-1].hash)

    @contextlib.asynccontextmanager
    async def changing(
        self, unavailable: Callable[[str], NexflowError], table: str
    ) -> AsyncIterator[AuditTransaction]:
        """`transaction()` for an area's audited change: a database failure inside the
        block becomes `unavailable("the <table> table cannot be written (<type>)")`."""
        try:
            async with self.transaction() as tx:
                yield tx
        except (OSError, SQLAlchemyError) as exc:
            message = f"the {table} table cannot be written ({error_type(exc)})"
            raise unavailable(message) from exc

    async def close(self) -> None:
        """Write what is queued and stop the writer; release the database if it is the log's own."""
        if not self._closed:
            self._closed = True
            self._queue.put_nowait(None)
        with contextlib.suppress(asyncio.CancelledError):
            await self._writer
        if self._raw is not None:
            await self._raw.close()
        if self._owns_db:
            await self._db.close()

    def _prepare(self, event: AuditEvent) -> Entry:
        """`event` capped and redacted, its payload encoded once (the `Entry` docstring)."""
        payload = event.payload if isinstance(event.payload, dict) else {"value": event.payload}
        codes = [_short(str(c), MAX_REASON_CODE_LEN) for c in event.reason_codes]
        del codes[MAX_REASON_CODES:]
        tree, text = redact_encoded(payload, max_bytes=self._max_payload_bytes)
        return Entry(
            action=str(event.action),
            call_id=_short_or_none(event.call_id),
            actor=_short_or_none(event.actor),
            skill=_short_or_none(event.skill),
            decision=event.decision,
            reason_codes=codes,
            policy_revision=_short_or_none(event.policy_revision),
            payload=tree,
            payload_json=text,
            # Most events carry no reason code: their `[]` needs no encoder.
            codes_json=canonical_text(codes) if codes else "[]",
        )

    async def _run(self) -> None:
        try:
            while True:
                jobs, stop = await self._next_batch()
                if jobs:
                    await self._commit(jobs)
                if stop:
                    return
        finally:
            self._fail_queued()

    async def _next_batch(self) -> tuple[list[_Job], bool]:
        first = await self._queue.get()
        if first is None:
            return [], True
        if self._queue.empty():
            await asyncio.sleep(0)  # let callers woken by the last commit enqueue too
        jobs, count = [first], len(first.events)
        while count < self._max_batch and not self._queue.empty():
            job = self._queue.get_nowait()
            if job is None:
                return jobs, True
            jobs.append(job)
            count += len(job.events)
        return jobs, False

    async def _commit(self, jobs: list[_Job]) -> None:
        try:
            records = await self._write([e for job in jobs for e in job.events])
        except BaseException as exc:  # even cancellation must not leave a waiter hanging
            self._head = None
            log.error(
                "audit.append_failed", error=_why(exc), events=sum(len(j.events) for j in jobs)
            )
            for job in jobs:
                if not job.future.done():
                    job.future.set_exception(
                        AuditUnavailable(f"the audit store cannot be written ({_why(exc)})")
                    )
            if not isinstance(exc, Exception):
                raise
            return
        self._head = (records[-1].seq, records[-1].hash)
        start = 0
        for job in jobs:
            end = start + len(job.events)
            if not job.future.done():
                job.future.set_result(records[start:end])
            start = end

    async def _write(self, entries: list[Entry]) -> list[AuditRecord]:
        if isinstance(self._raw, SqliteWriter):
            records = await self._raw.write(entries)
        elif isinstance(self._raw, PgWriter):
            records = await self._raw.write(entries, self._head)
        else:  # an in-memory SQLite database: only the engine's own connection sees it
            async with self._db.writing() as conn:
                records = await insert_chained(conn, entries, self._head)
        self.commits += 1
        return records

    def _fail_queued(self) -> None:
        while not self._queue.empty():
            job = self._queue.get_nowait()
            if job is not None and not job.future.done():
                job.future.set_exception(AuditUnavailable("the audit log is closed"))


class AuditTransaction:
    """The caller's side of `AuditLog.transaction()`: its connection, and `record`."""

    def __init__(self, conn: AsyncConnection, prepare: Callable[[AuditEvent], Entry]) -> None:
        self.conn = conn
        self.events: list[Entry] = []
        self._prepare = prepare

    def record(self, event: AuditEvent) -> None:
        """Store `event` (redacted and capped like any append) when the transaction commits."""
        self.events.append(self._prepare(event))


def _short(text: str, limit: int) -> str:
    if not text.isascii():
        text = text.encode("utf-8", "replace").decode("utf-8")
    return text.replace("\x00", "\ufffd")[:limit]


def _short_or_none(text: str | None) -> str | None:
    return None if text is None else _short(str(text), MAX_ID_LEN)


def _raw_writer(db: Database) -> SqliteWriter | PgWriter | None:
    """The writer on the raw driver for `db`'s database; None for an in-memory SQLite
    database (a second connection would see another, empty database)."""
    if db.engine.dialect.name == "postgresql":
        return PgWriter(pg_connect_args(db))
    path = sqlite_file(db)
    return None if path is None else SqliteWriter(path, busy_timeout_ms=db.busy_timeout_ms)
