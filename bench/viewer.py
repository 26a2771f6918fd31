"""Viewer benchmark: filtered audit pages (`audit.query.query`) over 1,000,000 events on
SQLite, first page and second page (keyset `before_seq`), beside an unfiltered first page
measured in the same run. Target: p50 < 100 ms for every filter; printed, never gated.

The 1M-row file is filled directly with sqlite3 (valid-looking columns, not a valid
chain: `verify` would fail, the viewer does not care), the reason-code side table filled
from it in one INSERT ... SELECT, and cached under
`$XDG_CACHE_HOME/nexflow-bench` (else ~/.cache), keyed by the schema revision and the
generator version, so a second run starts in seconds; a missing cache is rebuilt.
"""

from __future__ import annotations

import os
import random
import sqlite3
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from nexflow_control.audit import AuditFilter, AuditLog, query
from nexflow_control.db import migrations

from bench.stats import pct

ROWS = 1_000_000
TARGET_P50_MS = 100.0
_GENERATOR = "v2"  # bump when the generated data changes
_START = datetime(2026, 1, 1, tzinfo=UTC)
_SPAN = timedelta(days=30)
_ACTORS = [f"user-{i:02d}" for i in range(50)]
_SKILLS = [f"skill-{i:02d}" for i in range(30)]
_CALL_FLOW = ("call.requested", "call.decided", "call.dispatched", "call.finished")
_DENY_CODES = (["rate_limited"], ["skill_not_allowed"], ["egress_denied", "host_not_allowed"])
RARE_ACTOR = "auditor-rare"  # 20 events in all: a filter that matches almost nothing
RARE_CODE = "policy_error"  # about 1 event in 10,000


def cache_dir() -> Path:
    base = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(base) / "nexflow-bench"


async def ensure_db(rows: int = ROWS) -> Path:
    """The cached 1M-event SQLite file for the current schema; built when missing."""
    path = cache_dir() / f"viewer-{migrations.head()}-{_GENERATOR}-{rows}.db"
    if path.exists():
        return path
    path.parent.mkdir(parents=True, exist_ok=True)
    building = path.with_suffix(".building")
    for stale in (building, Path(f"{building}-wal"), Path(f"{building}-shm")):
        stale.unlink(missing_ok=True)
    log = await AuditLog.open(f"sqlite+aiosqlite:///{building}")  # the schema, by migrations
    await log.close()
    started = time.perf_counter()
    _fill(building, rows)
    print(f"  (built {rows:,} events in {time.perf_counter() - started:.0f} s: {path})")
    building.rename(path)
    return path


def _fill(path: Path, rows: int) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("PRAGMA journal_mode = OFF")
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("PRAGMA cache_size = -512000")
        conn.execute("BEGIN")
        sql = "INSERT INTO audit_events VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
        chunk: list[tuple[Any, ...]] = []
        for row in _rows(rows):
            chunk.append(row)
            if len(chunk) == 50_000:
                conn.executemany(sql, chunk)
                chunk.clear()
        conn.executemany(sql, chunk)
        # The reason-code side table, from the JSON column in one statement (as the
        # migration backfills it): what AuditLog writes beside each record.
        conn.execute(
            "INSERT INTO audit_reason_codes (code, seq) SELECT DISTINCT j.value, e.seq"
            " FROM audit_events AS e, json_each(e.reason_codes) AS j WHERE e.reason_codes <> '[]'"
        )
        conn.execute("COMMIT")  # no ANALYZE: AuditLog never runs it, so plans are as in production
    finally:
        conn.close()


def _rows(n: int) -> Any:
    rng = random.Random(42)  # noqa: S311 (test data, not secrets)
    step = _SPAN / n
    rare_at = set(rng.sample(range(n), 20))
    call = 0
    actor = skill = ""
    decision: str | None = None
    codes: list[str] = []
    for seq in range(1, n + 1):
        ts = (_START + step * seq).strftime("%Y-%m-%d %H:%M:%S.%f")
        phase = seq % 5
        if phase == 0:  # one event in five is not part of a call flow
            action = rng.choice(("egress.allowed", "egress.blocked", "auth.failed"))
            a, s, call_id, dec = rng.choice(_ACTORS), None, None, None
            rc = ["host_not_allowed"] if action == "egress.blocked" else []
        else:
            if phase == 1:
                call += 1
                actor = _ACTORS[min(49, int(rng.paretovariate(1.2)) - 1)]
                skill = rng.choice(_SKILLS)
                roll = rng.random()
                decision = "deny" if roll < 0.1 else "approval_required" if roll < 0.13 else "allow"
                codes = list(rng.choice(_DENY_CODES)) if decision == "deny" else []
                if rng.random() < 0.0005:
                    codes.append(RARE_CODE)
            action = _CALL_FLOW[phase - 1]
            a, s, call_id = actor, skill, f"c-{call:07d}"
            dec, rc = (decision, codes) if action == "call.decided" else (None, [])
        if seq in rare_at:
            a = RARE_ACTOR
        body = '["' + '","'.join(rc) + '"]' if rc else "[]"
        yield (
            seq, ts, action, call_id, a, s, dec, body, "rev-1",
            f'{{"i":{seq}}}', f"{seq - 1:064x}", f"{seq:064x}",
        )  # fmt: skip


def _filters() -> list[tuple[str, AuditFilter]]:
    day = _START + timedelta(days=12)
    return [
        ("actor (common)", AuditFilter(actor="user-00")),
        ("actor (mid)", AuditFilter(actor="user-20")),
        ("actor (rare: 20 events)", AuditFilter(actor=RARE_ACTOR)),
        ("skill", AuditFilter(skill="skill-07")),
        ("action exact", AuditFilter(action="call.decided")),
        ("action prefix call.*", AuditFilter(action="call.*")),
        ("action prefix egress.*", AuditFilter(action="egress.*")),
        ("action prefix (none match) accounts.*", AuditFilter(action="accounts.*")),
        ("decision=deny", AuditFilter(decision="deny")),
        ("reason_code (common)", AuditFilter(reason_code="rate_limited")),
        ("reason_code (rare)", AuditFilter(reason_code=RARE_CODE)),
        ("call_id", AuditFilter(call_id="c-0123456")),
        ("time range (1 day)", AuditFilter(since=day, until=day + timedelta(days=1))),
        ("time range (1 h, old)", AuditFilter(since=_START, until=_START + timedelta(hours=1))),
        ("actor + decision=deny", AuditFilter(actor="user-20", decision="deny")),
        ("skill + action prefix", AuditFilter(skill="skill-07", action="call.*")),
        ("actor + time range", AuditFilter(actor="user-20", since=day, until=day + _SPAN / 30)),
        ("decision=deny + reason_code", AuditFilter(decision="deny", reason_code="rate_limited")),
        ("actor + reason_code (rare)", AuditFilter(actor="user-20", reason_code=RARE_CODE)),
    ]


async def _time(log: AuditLog, f: AuditFilter, reps: int) -> tuple[list[float], list[float], int]:
    first_ms: list[float] = []
    second_ms: list[float] = []
    found = 0
    for _ in range(reps):
        t = time.perf_counter()
        page = await query(log, f, limit=100)
        first_ms.append((time.perf_counter() - t) * 1000)
        found = len(page.records)
        if page.next_before_seq is not None:
            t = time.perf_counter()
            await query(log, f, limit=100, before_seq=page.next_before_seq)
            second_ms.append((time.perf_counter() - t) * 1000)
    return first_ms, second_ms, found


async def run(tmp: Path, scale: float) -> None:
    print(f"== audit viewer: filtered pages over {ROWS:,} events on SQLite (limit 100) ==")
    path = await ensure_db()
    log = await AuditLog.open(f"sqlite+aiosqlite:///{path}")
    reps = max(5, int(30 * scale))
    try:
        await query(log, AuditFilter(), limit=100)  # warm the page cache
        base, _, _ = await _time(log, AuditFilter(), reps)
        base50 = pct(base, 50)
        print(
            f"  baseline: unfiltered first page        first p50 {base50:7.2f}"
            f" p99 {pct(base, 99):7.2f} ms"
        )
        worst = 0.0
        for name, f in _filters():
            first, second, found = await _time(log, f, reps)
            p50 = max(pct(first, 50), pct(second, 50) if second else 0.0)
            worst = max(worst, p50)
            nxt = (
                f"second p50 {pct(second, 50):7.2f} p99 {pct(second, 99):7.2f}"
                if second
                else f"{'(no second page)':<35}"
            )
            print(
                f"  {name:<38} first p50 {pct(first, 50):7.2f} p99 {pct(first, 99):7.2f}"
                f"  {nxt} ms  ({p50 / base50:5.1f}x baseline, {found} rows)"
            )
    finally:
        await log.close()
    met = "met" if worst < TARGET_P50_MS else "NOT met"
    print(f"  slowest p50 {worst:.2f} ms; target p50 < {TARGET_P50_MS:.0f} ms: {met}")
