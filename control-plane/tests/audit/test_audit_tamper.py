"""Tampering through a separate sqlite3 connection is named at the exact first bad seq."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest
from nexflow_control.audit import AuditEvent, AuditLog, VerifyReport, verify
from nexflow_control.audit.chain import compute_hash

COLUMNS = (
    "ts, action, call_id, actor, skill, decision, reason_codes, policy_revision, payload,"
    " prev_hash, hash"
)


@pytest.fixture
async def chain_of_ten(db_url: str) -> str:
    log = await AuditLog.open(db_url)
    for i in range(1, 11):
        await log.append(
            AuditEvent(
                action="call.decided",
                call_id=f"c{i}",
                actor="ann",
                skill="file-read",
                decision="allow",
                reason_codes=["ok"],
                policy_revision="r1",
                payload={"i": i},
            )
        )
    await log.close()
    return db_url


async def tampered(
    db_url: str, db_path: Path, change: Callable[[sqlite3.Connection], object]
) -> VerifyReport:
    raw = sqlite3.connect(db_path)
    with raw:
        change(raw)
    raw.close()
    log = await AuditLog.open(db_url)
    try:
        return await verify(log)
    finally:
        await log.close()


async def test_untouched_chain_verifies(chain_of_ten: str, db_path: Path) -> None:
    """Without tampering, verify walks all ten records and reports the head."""
    report = await tampered(chain_of_ten, db_path, lambda raw: None)
    assert (report.ok, report.checked, report.head_seq, report.first_bad_seq) == (
        True,
        10,
        10,
        None,
    )


async def test_empty_log_verifies(log: AuditLog) -> None:
    """An empty log is intact and has no head."""
    report = await verify(log)
    assert report.ok and report.checked == 0 and report.head_seq is None


EDITS = {
    "ts": "'2020-01-01 00:00:00.000000'",
    "action": "'call.finished'",
    "call_id": "'c999'",
    "actor": "'mallory'",
    "skill": "'shell'",
    "decision": "'deny'",
    "reason_codes": "'[\"forged\"]'",
    "policy_revision": "NULL",
    "payload": "'{\"i\":999}'",
    "hash": "'" + "f" * 64 + "'",
}


@pytest.mark.parametrize("column", sorted(EDITS))
async def test_edit_of_any_column_is_named(chain_of_ten: str, db_path: Path, column: str) -> None:
    """Changing any one column of record 5 is reported as a hash mismatch at seq 5."""
    sql = f"UPDATE audit_events SET {column} = {EDITS[column]} WHERE seq = 5"
    report = await tampered(chain_of_ten, db_path, lambda raw: raw.execute(sql))
    assert (report.ok, report.first_bad_seq, report.problem) == (False, 5, "hash_mismatch")
    assert (report.checked, report.head_seq) == (4, 4)


async def test_edit_of_prev_hash_is_named(chain_of_ten: str, db_path: Path) -> None:
    """Changing the link of record 5 is reported as a prev_hash mismatch at seq 5."""
    sql = "UPDATE audit_events SET prev_hash = '" + "0" * 64 + "' WHERE seq = 5"
    report = await tampered(chain_of_ten, db_path, lambda raw: raw.execute(sql))
    assert (report.first_bad_seq, report.problem) == (5, "prev_hash_mismatch")


@pytest.mark.parametrize(
    ("column", "value"), [("payload", "'{not json'"), ("ts", "'yesterday'"), ("actor", "x'00'")]
)
async def test_unreadable_values_are_named_not_crashed_on(
    chain_of_ten: str, db_path: Path, column: str, value: str
) -> None:
    """Garbage that cannot even be decoded is reported at its seq instead of crashing verify."""
    sql = f"UPDATE audit_events SET {column} = {value} WHERE seq = 3"
    report = await tampered(chain_of_ten, db_path, lambda raw: raw.execute(sql))
    assert (report.ok, report.first_bad_seq, report.problem) == (False, 3, "bad_value")


async def test_deleted_middle_row_is_named(chain_of_ten: str, db_path: Path) -> None:
    """Deleting record 6 is reported as the gap at seq 6."""
    report = await tampered(
        chain_of_ten, db_path, lambda raw: raw.execute("DELETE FROM audit_events WHERE seq = 6")
    )
    assert (report.first_bad_seq, report.problem, report.head_seq) == (6, "seq_gap", 5)


async def test_deleted_first_row_is_named(chain_of_ten: str, db_path: Path) -> None:
    """Deleting record 1 is reported as a bad first seq at seq 1."""
    report = await tampered(
        chain_of_ten, db_path, lambda raw: raw.execute("DELETE FROM audit_events WHERE seq = 1")
    )
    assert (report.first_bad_seq, report.problem, report.checked) == (1, "bad_first_seq", 0)


def shift_from(raw: sqlite3.Connection, seq: int) -> None:
    raw.execute("UPDATE audit_events SET seq = seq + 1000 WHERE seq >= ?", (seq,))
    raw.execute("UPDATE audit_events SET seq = seq - 999 WHERE seq >= 1000")


async def test_inserted_row_is_named(chain_of_ten: str, db_path: Path) -> None:
    """A row slipped in at 5 (later rows renumbered) is reported at seq 5."""

    def insert(raw: sqlite3.Connection) -> None:
        shift_from(raw, 5)
        raw.execute(
            f"INSERT INTO audit_events (seq, {COLUMNS}) SELECT 5, {COLUMNS} "
            "FROM audit_events WHERE seq = 4"
        )

    report = await tampered(chain_of_ten, db_path, insert)
    assert (report.first_bad_seq, report.problem) == (5, "prev_hash_mismatch")


async def test_forged_insertion_with_valid_hash_is_named_at_the_next_row(
    chain_of_ten: str, db_path: Path
) -> None:
    """A well-forged row at 5 links fine, so the break shows at seq 6, the displaced original."""

    def insert(raw: sqlite3.Connection) -> None:
        prev = raw.execute("SELECT hash FROM audit_events WHERE seq = 4").fetchone()[0]
        shift_from(raw, 5)
        ts = "2030-01-01 00:00:00.000000"
        body = {
            "seq": 5, "ts": "2030-01-01T00:00:00.000000+00:00", "action": "call.finished",
            "call_id": None, "actor": "mallory", "skill": None, "decision": None,
            "reason_codes": [], "policy_revision": None, "payload": {}, "prev_hash": prev,
        }  # fmt: skip
        raw.execute(
            "INSERT INTO audit_events"
            " (seq, ts, action, actor, reason_codes, payload, prev_hash, hash)"
            " VALUES (5, ?, 'call.finished', 'mallory', '[]', '{}', ?, ?)",
            (ts, prev, compute_hash(prev, body)),
        )

    report = await tampered(chain_of_ten, db_path, insert)
    assert (report.first_bad_seq, report.problem, report.checked) == (6, "prev_hash_mismatch", 5)


async def test_swapped_rows_are_named(chain_of_ten: str, db_path: Path) -> None:
    """Swapping the contents of records 4 and 7 is reported at seq 4."""

    def swap(raw: sqlite3.Connection) -> None:
        raw.execute("UPDATE audit_events SET seq = -4 WHERE seq = 4")
        raw.execute("UPDATE audit_events SET seq = 4 WHERE seq = 7")
        raw.execute("UPDATE audit_events SET seq = 7 WHERE seq = -4")

    report = await tampered(chain_of_ten, db_path, swap)
    assert (report.first_bad_seq, report.problem) == (4, "prev_hash_mismatch")


async def test_cut_tail_is_not_detectable_without_checkpoints(
    chain_of_ten: str, db_path: Path
) -> None:
    """Documented limit: removing the newest rows leaves a valid, shorter chain."""
    report = await tampered(
        chain_of_ten, db_path, lambda raw: raw.execute("DELETE FROM audit_events WHERE seq > 8")
    )
    assert (report.ok, report.checked, report.head_seq) == (True, 8, 8)
