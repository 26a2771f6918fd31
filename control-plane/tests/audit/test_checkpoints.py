"""Signed checkpoints catch what the bare chain cannot: a cut tail and a rewritten chain."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from nexflow_control.audit import AuditEvent, AuditLog, Checkpointer, verify
from nexflow_control.audit import checkpoint as ckpt
from nexflow_control.audit.chain import compute_hash, record_body
from nexflow_control.audit.checkpoint import CheckpointError
from nexflow_control.audit.models import audit_events as t
from nexflow_control.audit.verify import verify_with_checkpoints
from sqlalchemy import delete, select, update

NEXFLOW = Path(sys.executable).with_name("nexflow")


def _event(i: int) -> AuditEvent:
    return AuditEvent(action="call.decided", call_id=f"c{i}", actor="ann", payload={"i": i})


async def _append(log: AuditLog, n: int) -> None:
    for i in range(n):
        await log.append(_event(i))


@pytest.fixture
def keys(tmp_path: Path) -> tuple[Path, Path]:
    """(key file, checkpoint file) in a private temporary home."""
    return tmp_path / "home" / "keys" / "audit-checkpoint.key", tmp_path / "home" / "cp.jsonl"


def _checkpointer(log: AuditLog, keys: tuple[Path, Path], **kw: Any) -> Checkpointer:
    kw.setdefault("interval_s", 3600.0)  # only the checkpoints a test asks for
    cp = Checkpointer(log, key_file=keys[0], file=keys[1], **kw)
    cp.start()
    return cp


async def _report(log: AuditLog, cp: Checkpointer) -> dict[str, Any]:
    return (await verify_with_checkpoints(log, cp.file, cp.public_key)).to_dict()


async def test_intact_log_with_checkpoints_verifies(log: AuditLog, keys: tuple[Path, Path]) -> None:
    """Checkpoints of an untouched log all verify; the last one vouches for the head."""
    cp = _checkpointer(log, keys)
    await _append(log, 5)
    await cp.checkpoint_now()
    await _append(log, 3)
    await cp.stop()  # the final checkpoint covers #8
    report = await _report(log, cp)
    assert report["ok"] is True, report
    assert (report["checked"], report["checkpoints_checked"], report["last_checkpoint_seq"]) == (
        8,
        2,
        8,
    )
    assert report["warnings"] == []


async def test_truncated_tail_is_missing_tail(log: AuditLog, keys: tuple[Path, Path]) -> None:
    """Deleting the last rows passes the bare chain but the checkpoint names #8..#10 missing."""
    cp = _checkpointer(log, keys)
    await _append(log, 10)
    written = await cp.checkpoint_now()
    assert written is not None and written.seq == 10
    async with log.engine.begin() as conn:
        await conn.execute(delete(t).where(t.c.seq > 7))
    chain = await verify(log)
    assert (chain.ok, chain.head_seq) == (True, 7)  # the chain alone cannot see it
    report = await _report(log, cp)
    assert (report["ok"], report["problem"], report["first_bad_seq"]) == (
        False,
        "missing_tail",
        8,
    )
    assert report["last_checkpoint_seq"] == 10
    assert "the log ends at #7" in report["message"]
    assert "events #8..#10 are missing" in report["message"]
    await cp.stop(final=False)


async def _rewrite_from(log: AuditLog, start: int) -> None:
    """Edit event `start` and recompute every hash from there: a valid, forged chain."""
    async with log.engine.begin() as conn:
        rows = (await conn.execute(select(t).order_by(t.c.seq))).mappings().all()
        prev = rows[start - 2]["hash"] if start > 1 else "0" * 64
        for row in rows[start - 1 :]:
            fields = {k: row[k] for k in row if k != "hash"}
            fields["prev_hash"] = prev
            if row["seq"] == start:
                fields["actor"] = "mallory"
            prev = compute_hash(prev, record_body(**fields))
            values = {"actor": fields["actor"], "prev_hash": fields["prev_hash"], "hash": prev}
            await conn.execute(update(t).where(t.c.seq == row["seq"]).values(**values))


async def test_rewritten_chain_is_checkpoint_mismatch(
    log: AuditLog, keys: tuple[Path, Path]
) -> None:
    """A chain rewritten from #6 with recomputed hashes mismatches the checkpoint of #8."""
    cp = _checkpointer(log, keys)
    await _append(log, 4)
    await cp.checkpoint_now()  # #4: before the rewrite, still agrees
    await _append(log, 4)
    await cp.checkpoint_now()  # #8: after it
    await _append(log, 2)
    await _rewrite_from(log, 6)
    assert (await verify(log)).ok is True  # recomputed hashes fool the bare chain
    report = await _report(log, cp)
    assert (report["ok"], report["problem"], report["first_bad_seq"]) == (
        False,
        "checkpoint_mismatch",
        8,
    )
    assert "after #4" in report["message"]
    await cp.stop(final=False)


async def test_mismatch_before_a_chain_break_is_reported_first(
    log: AuditLog, keys: tuple[Path, Path]
) -> None:
    """A rewrite at #3 (vouched at #5) comes before a plain edit at #9: #5 is reported."""
    cp = _checkpointer(log, keys)
    await _append(log, 5)
    await cp.checkpoint_now()
    await _append(log, 5)
    await _rewrite_from(log, 3)
    async with log.engine.begin() as conn:
        await conn.execute(update(t).where(t.c.seq == 9).values(actor="eve"))
    report = await _report(log, cp)
    assert (report["problem"], report["first_bad_seq"]) == ("checkpoint_mismatch", 5)
    assert any("seq 9" in w for w in report["warnings"]), report["warnings"]
    await cp.stop(final=False)


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


def _write_lines(path: Path, lines: list[dict[str, Any]]) -> None:
    path.write_text("".join(json.dumps(line) + "\n" for line in lines))


@pytest.mark.parametrize("forgery", ["other_key", "edited_seq"])
async def test_forged_checkpoint_is_bad_signature(
    log: AuditLog, keys: tuple[Path, Path], forgery: str
) -> None:
    """A line signed by another key, or an edited seq, is named by its line number."""
    cp = _checkpointer(log, keys)
    await _append(log, 3)
    await cp.checkpoint_now()
    await _append(log, 3)
    await cp.checkpoint_now()
    lines = _lines(cp.file)
    if forgery == "other_key":
        lines[1] = ckpt.sign(Ed25519PrivateKey.generate(), 6, lines[1]["hash"]).to_dict()
    else:
        lines[1]["seq"] = 5
    _write_lines(cp.file, lines)
    report = await _report(log, cp)
    assert (report["ok"], report["problem"], report["checkpoint_line"]) == (
        False,
        "bad_checkpoint_signature",
        2,
    )
    assert report["checkpoints_checked"] == 1 and report["last_checkpoint_seq"] == 3
    expected = "another key" if forgery == "other_key" else "does not match"
    assert expected in report["message"]
    await cp.stop(final=False)


async def test_torn_last_line_is_tolerated_and_cut_before_the_next(
    log: AuditLog, keys: tuple[Path, Path]
) -> None:
    """A half-written last line is a warning only; the next append cuts it off first."""
    cp = _checkpointer(log, keys)
    await _append(log, 2)
    await cp.checkpoint_now()
    with cp.file.open("ab") as f:
        f.write(b'{"seq": 3, "hash": "ab')
    report = await _report(log, cp)
    assert report["ok"] is True and report["checkpoints_checked"] == 1
    assert report["warnings"] == [f"line 2 of {cp.file} is torn (ignored)"]
    await _append(log, 1)
    await cp.checkpoint_now()
    assert [line["seq"] for line in _lines(cp.file)] == [2, 3]
    report = await _report(log, cp)
    assert report["ok"] is True and report["warnings"] == [] and report["checkpoints_checked"] == 2
    await cp.stop(final=False)


async def test_malformed_middle_line_is_reported(log: AuditLog, keys: tuple[Path, Path]) -> None:
    """A complete line that is not a checkpoint is not silently skipped."""
    cp = _checkpointer(log, keys)
    await _append(log, 2)
    await cp.checkpoint_now()
    with cp.file.open("a") as f:
        f.write("garbage\n")
    report = await _report(log, cp)
    assert (report["problem"], report["checkpoint_line"]) == ("bad_checkpoint_signature", 2)
    await cp.stop(final=False)


async def test_missing_checkpoint_file_is_a_warning(log: AuditLog, tmp_path: Path) -> None:
    """No checkpoint file: the chain's verdict stands, with 0 checkpoints and a warning."""
    await _append(log, 2)
    key = Ed25519PrivateKey.generate().public_key()
    report = (await verify_with_checkpoints(log, tmp_path / "none.jsonl", key)).to_dict()
    assert (report["ok"], report["checkpoints_checked"]) == (True, 0)
    assert report["warnings"] == [f"no checkpoint file at {tmp_path / 'none.jsonl'}"]


async def test_periodic_task_checkpoints_the_head(log: AuditLog, keys: tuple[Path, Path]) -> None:
    """With a short interval, the running task checkpoints the head without being asked."""
    cp = _checkpointer(log, keys, interval_s=0.05)
    await _append(log, 4)
    for _ in range(100):
        lines = _lines(cp.file) if cp.file.exists() else []  # created, maybe not yet written
        if lines and lines[-1]["seq"] == 4:
            break
        await asyncio.sleep(0.05)
    assert _lines(cp.file)[-1]["seq"] == 4
    await cp.stop(final=False)


def test_key_file_is_created_private(tmp_path: Path) -> None:
    """The key is created 0600 in a 0700 folder, with its public key beside it."""
    key_file = tmp_path / "keys" / "audit-checkpoint.key"
    key = ckpt.load_or_create_key(key_file)
    assert oct(key_file.stat().st_mode & 0o777) == oct(0o600)
    assert oct(key_file.parent.stat().st_mode & 0o777) == oct(0o700)
    pub = ckpt.load_public_key(key_file.with_suffix(".pub"))
    assert ckpt.key_id(pub) == ckpt.key_id(key.public_key())
    assert ckpt.key_id(ckpt.load_or_create_key(key_file).public_key()) == ckpt.key_id(pub)


def test_key_file_readable_by_others_is_refused(tmp_path: Path) -> None:
    """A 0644 key file is refused with an error saying how to fix it."""
    key_file = tmp_path / "audit-checkpoint.key"
    ckpt.load_or_create_key(key_file)
    key_file.chmod(0o644)
    with pytest.raises(CheckpointError, match="chmod 600"):
        ckpt.load_or_create_key(key_file)


async def test_unusable_key_leaves_the_log_running(log: AuditLog, tmp_path: Path) -> None:
    """A refused key stops checkpoints only: start, checkpoint_now and stop do not raise."""
    key_file = tmp_path / "k.key"
    key_file.write_bytes(os.urandom(32))
    key_file.chmod(0o640)
    cp = Checkpointer(log, key_file=key_file, file=tmp_path / "cp.jsonl")
    cp.start()
    await _append(log, 1)
    assert cp.public_key is None and await cp.checkpoint_now() is None
    await cp.stop()
    assert not (tmp_path / "cp.jsonl").exists()


# --- the CLI (SQLite home) ------------------------------------------------------------


def _cli(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEXFLOW_")}
    return subprocess.run(
        [str(NEXFLOW), "audit", "verify", "--home", str(home), *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env=env,
    )


async def _home_with_checkpoint(home: Path, n: int) -> None:
    log = await AuditLog.open(f"sqlite+aiosqlite:///{home / 'nexflow.db'}")
    cp = Checkpointer(
        log,
        key_file=home / "keys" / "audit-checkpoint.key",
        file=home / "checkpoints" / "audit.jsonl",
    )
    cp.start()
    await _append(log, n)
    await cp.stop()
    await log.close()


async def test_cli_reports_missing_tail(tmp_path: Path) -> None:
    """`nexflow audit verify` passes a whole log, then exits 1 naming #7..#9 as missing."""
    home = tmp_path / "home"
    await _home_with_checkpoint(home, 9)
    good = await asyncio.to_thread(_cli, home)
    assert good.returncode == 0, good.stdout + good.stderr
    assert "ok: 9 events" in good.stdout and "last #9" in good.stdout
    log = await AuditLog.open(f"sqlite+aiosqlite:///{home / 'nexflow.db'}")
    async with log.engine.begin() as conn:
        await conn.execute(delete(t).where(t.c.seq >= 7))
    await log.close()
    bad = await asyncio.to_thread(_cli, home)
    assert bad.returncode == 1
    assert "missing tail: events #7..#9" in bad.stdout
    as_json = await asyncio.to_thread(_cli, home, "--json")
    report = json.loads(as_json.stdout)
    assert (as_json.returncode, report["problem"], report["first_bad_seq"]) == (
        1,
        "missing_tail",
        7,
    )
    assert "Traceback" not in bad.stdout + bad.stderr + as_json.stderr


async def test_cli_clear_errors_without_traceback(tmp_path: Path) -> None:
    """No public key for existing checkpoints, or a garbled one: exit 1, one clear line."""
    home = tmp_path / "home"
    await _home_with_checkpoint(home, 2)
    pub = home / "keys" / "audit-checkpoint.pub"
    pub.rename(home / "elsewhere.pub")
    (home / "garbled.pub").write_text("not a key")
    missing, garbled, moved = await asyncio.gather(
        asyncio.to_thread(_cli, home),
        asyncio.to_thread(_cli, home, "--public-key", str(home / "garbled.pub")),
        asyncio.to_thread(_cli, home, "--public-key", str(home / "elsewhere.pub")),
    )
    assert missing.returncode == 1
    assert f"error: no public key at {pub}" in missing.stderr
    assert garbled.returncode == 1 and "is not a PEM or raw ed25519 public key" in garbled.stderr
    assert moved.returncode == 0, moved.stdout + moved.stderr
    for run in (missing, garbled, moved):
        assert "Traceback" not in run.stdout + run.stderr


# --- the app: the checkpointer runs with it, and the HTTP API reports its results ------


async def test_app_checkpoints_at_shutdown_and_api_catches_a_cut_tail(
    tmp_path: Path, db_url: str
) -> None:
    """The app's last checkpoint vouches for its head; a cut head refilled by the next start
    is caught by the API as a checkpoint mismatch at that seq."""
    import httpx
    from nexflow_control.app import create_app
    from nexflow_control.settings import REPO_ROOT, PolicySettings, Settings

    skills = tmp_path / "skills"
    (skills / "echo").parent.mkdir()
    (skills / "echo").symlink_to(REPO_ROOT / "skills" / "echo")
    settings = Settings(
        database_url=db_url,
        home=tmp_path / "home",
        admin_token="t" * 40,
        executor_socket=tmp_path / "no-executor.sock",
        policy=PolicySettings(reload_interval_s=0),
        builtin_skills_dir=skills,
    )

    async def verify_over_http() -> dict[str, Any]:
        app = create_app(settings)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with httpx.AsyncClient(transport=transport, base_url="http://cp") as client:
                resp = await client.get(
                    "/api/v1/audit/verify", headers={"authorization": "Bearer " + "t" * 40}
                )
                assert resp.status_code == 200, resp.text
                return dict(resp.json())

    first = await verify_over_http()
    # An HTTP answer names the file inside the home, not the host path.
    assert first["ok"] is True and first["warnings"] == [
        "no checkpoint file at <home>/checkpoints/audit.jsonl"
    ]
    head = _lines(settings.checkpoint_file)[-1]["seq"]  # written at shutdown
    assert settings.checkpoint_key_file.stat().st_mode & 0o777 == 0o600
    log = await AuditLog.open(db_url)
    async with log.engine.begin() as conn:
        await conn.execute(delete(t).where(t.c.seq == head))
    await log.close()
    second = await verify_over_http()  # this start appends new events from #head on
    assert (second["ok"], second["problem"], second["first_bad_seq"]) == (
        False,
        "checkpoint_mismatch",
        head,
    )
    assert second["checkpoints_checked"] == 1
