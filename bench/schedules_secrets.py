"""Scheduler precision and the added cost of secret brokering per call.

Scheduler: N one-shot schedules due over a window, on a real SQLite database (and
PostgreSQL when a server can start), one `Scheduler` ticking every 0.2 s; each fire's
lateness is the time its call was handed to the call service minus its due time (the
claim transaction included; the call itself is a stand-in that answers at once, since
what the call costs is the spine benchmark's business). Target p99 <= 1 s.

Secrets: what a call with one granted secret adds to one without: reading and opening it
(`SecretStore.reveal`) and redacting 4 KiB of output in every form; baseline, the same
output through an empty redactor (and one pooled `SELECT 1`, for scale). Measured in the
same loop both ways: `before`, the read through SQLAlchemy's engine (as it was), and
`now`, the read on the raw driver (`secrets._raw`), on SQLite and, when a server can
start, PostgreSQL. Target <= 1 ms at p50.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from nexflow_control.audit import AuditEvent, AuditLog
from nexflow_control.db import Database
from nexflow_control.schedules import Schedule, Scheduler, ScheduleStore, Status, When
from nexflow_control.schedules.models import schedules
from nexflow_control.secrets import Redactor, SecretStore
from sqlalchemy import text, update

from bench.stats import pct, summary
from tests.pg import PgServer, PgUnavailable

OUTPUT = ("line of ordinary output 0123456789 " * 120)[:4096]


@dataclass
class _Answer:
    call_id: str

    def to_dict(self) -> dict[str, Any]:
        return {"call_id": self.call_id, "status": "running"}


class _Calls:
    """Stands in for CallService.run: notes when each schedule's call was handed over."""

    def __init__(self, due: dict[str, datetime]) -> None:
        self.due = due
        self.late_ms: list[float] = []
        self.all_fired = asyncio.Event()

    async def run(self, who: Any, skill: str, raw: Any, *, wait: bool) -> _Answer:
        sid = raw["sid"]
        self.late_ms.append((datetime.now(UTC) - self.due[sid]).total_seconds() * 1000)
        if len(self.late_ms) == len(self.due):
            self.all_fired.set()
        return _Answer("c_" + sid[2:])


async def _precision(url: str, n: int, window_s: float) -> list[float]:
    db = await Database.open(url)
    audit = AuditLog(db)
    store = ScheduleStore(db, audit)
    parked = datetime.now(UTC) + timedelta(days=1)  # inserted first, then set due at once
    due: dict[str, datetime] = {}
    try:
        for i in range(n):
            sid = f"s_{i:016x}"
            schedule = Schedule(
                id=sid, owner={"id": "bench", "roles": ["user"], "user_id": None, "token_id": None},
                skill="echo", input=f'{{"sid": "{sid}"}}', when=When(None, parked, "UTC"),
                destination="web", status=Status.ACTIVE, next_run=parked,
                created_at=parked, updated_at=parked,
            )  # fmt: skip
            await store.insert(schedule, AuditEvent(action="schedule.created", actor="bench"))
        start = datetime.now(UTC) + timedelta(seconds=2)
        async with db.writing() as conn:
            for i in range(n):
                sid = f"s_{i:016x}"
                due[sid] = start + timedelta(seconds=window_s * i / n)
                await conn.execute(
                    update(schedules)
                    .where(schedules.c.id == sid)
                    .values(next_run=due[sid], run_at=due[sid])
                )
        calls = _Calls(due)
        scheduler = Scheduler(store, calls, None, tick_s=0.2, grace_s=300)  # type: ignore[arg-type]
        scheduler.start()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(calls.all_fired.wait(), window_s + 60)
        await scheduler.stop()
        return list(calls.late_ms)
    finally:
        await audit.close()
        await db.close()


async def _brokering(url: str, key: Path, n: int) -> dict[str, list[float]]:
    """Per call, interleaved: the floor (one pooled SELECT 1), an empty redactor, and
    reveal + redact through the engine (before) and through the raw driver (now)."""
    db = await Database.open(url)
    audit = AuditLog(db)
    now = SecretStore.open(db, audit, key)
    before = SecretStore.open(db, audit, key, raw_driver=False)
    await now.create("github_token", "ghx_" + "Q7w" * 12, "bench")
    times: dict[str, list[float]] = {"floor": [], "none": [], "before": [], "now": []}

    async def brokered(store: SecretStore) -> None:
        revealed, _ = await store.reveal(["github_token"])
        redactor = Redactor({r.name: r.value for r in revealed})
        redactor.redact(OUTPUT)
        redactor.redact(OUTPUT)  # stdout and stderr

    try:
        for _ in range(n):
            t0 = time.perf_counter()
            async with db.engine.connect() as conn:
                await conn.execute(text("SELECT 1"))
            t1 = time.perf_counter()
            Redactor({}).redact(OUTPUT)
            Redactor({}).redact(OUTPUT)
            t2 = time.perf_counter()
            await brokered(before)
            t3 = time.perf_counter()
            await brokered(now)
            t4 = time.perf_counter()
            for name, (a, b) in {
                "floor": (t0, t1), "none": (t1, t2), "before": (t2, t3), "now": (t3, t4)
            }.items():  # fmt: skip
                times[name].append((b - a) * 1000)
        return times
    finally:
        await now.close()
        await before.close()
        await audit.close()
        await db.close()


def _report_brokering(label: str, times: dict[str, list[float]]) -> None:
    print(f"  -- {label} --")
    print(summary("baseline: one pooled SELECT 1", times["floor"]))
    print(summary("baseline: 2 x 4 KiB through an empty redactor", times["none"]))
    base = pct(times["none"], 50)
    before = pct(times["before"], 50) - base
    print(summary("before: reveal via engine + redact", times["before"], f"(+{before:.3f} ms)"))
    added = pct(times["now"], 50) - base
    print(
        summary(
            "now: reveal via raw driver + redact",
            times["now"],
            f"(+{added:.3f} ms at p50; target <= 1 ms)",
        )
    )


async def run(tmp: Path, scale: float) -> None:
    print("== secrets: added cost of brokering one secret per call ==")
    n_calls = max(200, int(2000 * scale))
    key = tmp / "keys" / "secrets.key"
    times = await _brokering(f"sqlite+aiosqlite:///{tmp / 'secrets.db'}", key, n_calls)
    _report_brokering("SQLite", times)
    pg: PgServer | None = None
    try:
        pg = PgServer.start(prefix="nexflow-bench-sched-")
    except PgUnavailable as exc:
        print(f"  PostgreSQL skipped: {exc}")
    try:
        if pg is not None:
            _report_brokering(
                "PostgreSQL", await _brokering(pg.create_database("sec"), key, n_calls)
            )
        await _schedules(tmp, scale, pg)
    finally:
        if pg is not None:
            pg.stop()


async def _schedules(tmp: Path, scale: float, pg: PgServer | None) -> None:
    print("== schedules: fire time minus due time ==")
    n = max(100, int(1000 * scale))
    window = 20.0 * max(scale, 0.25)
    late = await _precision(f"sqlite+aiosqlite:///{tmp / 'schedules.db'}", n, window)
    print(
        summary(
            f"SQLite: {n} one-shots over {window:g} s, tick 0.2 s", late, "(target p99 <= 1000 ms)"
        )
    )
    if pg is not None:
        late = await _precision(pg.create_database("sched"), n, window)
        print(summary(f"PostgreSQL: {n} one-shots over {window:g} s, tick 0.2 s", late))
