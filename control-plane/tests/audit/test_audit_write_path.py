"""The append path on the raw drivers: one encode per event spliced into the hashed body,
the same bytes stored and hashed on both backends, and failing closed when the disk
refuses the write or the file is swapped underneath."""

from __future__ import annotations

import asyncio
import json
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from nexflow_control.audit import AuditEvent, AuditLog, AuditUnavailable, tail, verify
from nexflow_control.audit import append as append_mod
from nexflow_control.audit.chain import body_text, canonical_text, record_body

from tests.pg import pg_rows

TRICKY: list[dict[str, Any]] = [
    {},
    {"text": 'quote " backslash \\ tab \t nul-ish \x01 \u2028 naïve ✓ 漢字 😀'},
    {"b": [1, -2, 0.1, 1e300, True, False, None], "a": {"z": {}, "y": []}, "A": "upper"},
    {"nested": {"deep": [{"k": "v"}, "x" * 300]}, "ms": 17},
]


def reference(payload: dict[str, Any]) -> str:
    """What any JSON library writes for the canonical form (the chain docstring)."""
    return json.dumps(payload, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@pytest.mark.parametrize("payload", TRICKY)
@pytest.mark.parametrize("nulls", [False, True])
def test_spliced_body_is_the_canonical_encoding(payload: dict[str, Any], nulls: bool) -> None:
    """The body written from pre-encoded parts equals the generic canonical encoding."""
    text = None if nulls else 'ann "the" \\ ü'
    fields: dict[str, Any] = {
        "seq": 12345678901,
        "action": "call.requested",
        "call_id": text,
        "actor": text,
        "skill": text,
        "decision": None if nulls else "allow",
        "policy_revision": text,
        "prev_hash": "ab" * 32,
    }
    ts = datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)
    codes = [] if nulls else ["ok", "naïve\n"]
    spliced = body_text(
        **fields,
        ts=ts.isoformat(timespec="microseconds"),
        reason_codes_json=reference(codes),  # type: ignore[arg-type]
        payload_json=reference(payload),
    )
    generic = canonical_text(record_body(**fields, ts=ts, reason_codes=codes, payload=payload))
    assert spliced == generic
    assert spliced == reference(json.loads(generic))


def stored_columns(db_url: str, backend: str) -> list[tuple[str, str]]:
    """(payload, reason_codes) as the database holds them, as text, in seq order."""
    if backend == "postgres":
        sql = "SELECT payload::text AS p, reason_codes::text AS c FROM audit_events ORDER BY seq"
        return [(r["p"], r["c"]) for r in pg_rows(db_url, sql)]
    path = db_url.split("///", 1)[1]
    with sqlite3.connect(path) as raw:
        rows = raw.execute("SELECT payload, reason_codes FROM audit_events ORDER BY seq")
        return [(str(p), str(c)) for p, c in rows]


async def test_stored_json_is_the_hashed_text(log: AuditLog, db_url: str, backend: str) -> None:
    """On either backend the JSON columns hold exactly the canonical text that was hashed."""
    for i, payload in enumerate(TRICKY):
        await log.append(
            AuditEvent(action="call.finished", reason_codes=[f"r{i}"], payload=payload)
        )
    assert stored_columns(db_url, backend) == [
        (reference(p), reference([f"r{i}"])) for i, p in enumerate(TRICKY)
    ]
    assert (await verify(log)).ok


class _Clock:
    """`datetime` for `append`, with `now` ticking a microsecond from a fixed instant."""

    start = datetime(2026, 3, 4, 5, 6, 7, 0, tzinfo=UTC)
    ticks = 0

    @classmethod
    def now(cls, tz: Any = None) -> datetime:
        cls.ticks += 1
        return cls.start + timedelta(microseconds=cls.ticks)


@pytest.mark.postgres
async def test_both_backends_build_the_same_chain(
    tmp_path: Path, pg_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same events at the same instants give byte-identical chains on SQLite and
    PostgreSQL: every hash equal, including the batches written with reason codes."""
    monkeypatch.setattr(append_mod, "datetime", _Clock)
    chains = []
    for url in (f"sqlite+aiosqlite:///{tmp_path / 'a.db'}", pg_url):
        _Clock.ticks = 0
        log = await AuditLog.open(url)
        try:
            for i, payload in enumerate(TRICKY):
                await log.append(AuditEvent(action="call.requested", actor="ann", payload=payload))
                await log.append_many(
                    [AuditEvent(action="call.decided", decision="deny", reason_codes=[f"c{i}"])]
                )
            assert (await verify(log)).ok
            chains.append([r.to_dict() for r in await tail(log, 0, 100)])
        finally:
            await log.close()
    assert len(chains[0]) == 2 * len(TRICKY)
    assert chains[0] == chains[1]


async def test_a_deleted_database_file_is_not_written_behind_its_back(
    log: AuditLog, db_path: Path
) -> None:
    """The writer keeps its connection; if the file is removed, it must not go on
    committing into the unlinked file (events nobody could ever read): it fails closed."""
    await log.append(AuditEvent(action="call.requested"))
    remove_folder_files(db_path.parent)
    with pytest.raises(AuditUnavailable):
        await log.append(AuditEvent(action="call.requested"))
    assert remove_folder_files(db_path.parent) == []  # and it did not create an empty one


def remove_folder_files(folder: Path) -> list[str]:
    """Delete every file in `folder`; the names deleted."""
    names = []
    for path in folder.iterdir():
        path.unlink()
        names.append(path.name)
    return names


DISK_FULL_CHILD = """
import asyncio, resource, signal, sys
from nexflow_control.audit import AuditEvent, AuditLog, AuditUnavailable, verify

async def main():
    log = await AuditLog.open(sys.argv[1])
    first = await log.append(AuditEvent(action="call.requested", call_id="before"))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a failed write is EFBIG, not a kill
    soft, hard = resource.getrlimit(resource.RLIMIT_FSIZE)
    resource.setrlimit(resource.RLIMIT_FSIZE, (1, hard))  # no file write can land now
    try:
        refused = await log.append(AuditEvent(action="call.requested", call_id="refused"))
        print("STORED", refused.seq, flush=True)
    except AuditUnavailable as exc:
        print("REFUSED", exc.code, flush=True)
    resource.setrlimit(resource.RLIMIT_FSIZE, (soft, hard))
    after = await log.append(AuditEvent(action="call.requested", call_id="after"))
    report = await verify(log)
    print("AFTER", first.seq, after.seq, report.ok, flush=True)
    await log.close()

asyncio.run(main())
"""


@pytest.mark.timeout(120)
async def test_a_disk_that_refuses_the_write_fails_the_append(db_url: str, db_path: Path) -> None:
    """A real write failure (the kernel refuses every file write: RLIMIT_FSIZE) makes the
    append raise `AuditUnavailable` instead of returning: a caller is never told an event
    is stored when it is not, and nothing of the refused batch is kept. Once the disk
    takes writes again the chain goes on from the last durable record."""
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-c",
        DISK_FULL_CHILD,
        db_url,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    out, err = await asyncio.wait_for(child.communicate(), 90)
    lines = out.decode().splitlines()
    assert child.returncode == 0, err.decode()[-2000:]
    assert "REFUSED audit_unavailable" in lines, out.decode()
    assert "AFTER 1 2 True" in lines, out.decode()
    with sqlite3.connect(db_path) as raw:
        rows = raw.execute("SELECT call_id FROM audit_events ORDER BY seq").fetchall()
    assert rows == [("before",), ("after",)]
