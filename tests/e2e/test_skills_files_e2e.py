"""End to end: the workspace skills (checksum, data-query on JSON, YAML and CSV,
archive-list, archive-extract, sqlite-query, and shell-run's confirmation) through a real
`nexflow up`, in the real sandbox, on Docker and on nsjail.

The archive tests attack: zip-slip, tar-slip, absolute names, symlinks, hard links,
devices and a decompression bomb must all be refused with nothing written outside the
destination (and, for the bomb, nothing left inside it).
"""

from __future__ import annotations

import hashlib
import io
import json
import sqlite3
import tarfile
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.harness import Stack
from tests.skill_calls import approved, approver, failed, ok

pytestmark = [pytest.mark.e2e, pytest.mark.xdist_group("skills-files-e2e")]


@pytest.fixture(scope="module")
def otto(stack: Stack) -> Iterator[httpx.Client]:
    person = approver(stack)
    yield person
    person.close()


def _tar(path: Path, *members: tuple[tarfile.TarInfo, bytes]) -> None:
    with tarfile.open(path, "w:gz") as archive:
        for info, data in members:
            info.size = len(data) if info.isreg() else 0
            archive.addfile(info, io.BytesIO(data) if info.isreg() else None)


def _info(name: str, kind: bytes = tarfile.REGTYPE, link: str = "") -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.type, info.linkname = kind, link
    return info


def test_checksum_of_a_file_matches_hashlib(stack: Stack) -> None:
    """checksum reads a workspace file in the sandbox and returns its real SHA-256 and size;
    a path and a text together are bad input."""
    data = bytes(range(256)) * 5000
    (stack.workspace / "blob.bin").write_bytes(data)
    out = ok(stack, "checksum", {"path": "blob.bin"})
    assert out["digest"] == hashlib.sha256(data).hexdigest() and out["size"] == len(data)
    wrong = ok(stack, "checksum", {"path": "blob.bin", "algorithm": "md5", "expected": "0" * 32})
    assert wrong["matches"] is False and wrong["digest"] == hashlib.md5(data).hexdigest()
    both = failed(stack, "checksum", {"path": "blob.bin", "text": "x"})
    assert both["error"] == "bad_input" and "exactly one" in both["message"]


def test_checksum_refuses_a_link_out_of_the_workspace(stack: Stack) -> None:
    """A symlink in the workspace pointing at /etc/shadow is judged where it points: denied."""
    link = stack.workspace / "shadow-link"
    link.unlink(missing_ok=True)
    link.symlink_to("/etc/shadow")
    reply = stack.call("checksum", {"path": "shadow-link"})
    assert reply.status_code == 403, reply.text
    assert "path_outside_grant" in {r["code"] for r in reply.json()["reasons"]}


def test_data_query_filters_csv_and_selects_json(stack: Stack) -> None:
    """CSV rows are filtered numerically and projected; a JSON path with [*] fans out; CSV out."""
    (stack.workspace / "people.csv").write_text("name,age\nann,30\nbob,12\ncy,18\n")
    adults = ok(
        stack,
        "data-query",
        {
            "path": "people.csv",
            "where": [{"field": "age", "op": "ge", "value": 18}],
            "fields": ["name"],
            "sort_by": "name",
            "descending": True,
        },
    )
    assert adults["result"] == [{"name": "cy"}, {"name": "ann"}] and adults["count"] == 2
    doc = {"team": {"members": [{"n": "x", "score": 3}, {"n": "y", "score": 9}]}}
    out = ok(
        stack,
        "data-query",
        {
            "text": json.dumps(doc),
            "select": "team.members[*]",
            "sort_by": "score",
            "descending": True,
            "limit": 1,
            "output": "csv",
        },
    )
    assert out["csv"] == "n,score\ny,9\n" and out["truncated"] is True


def test_data_query_survives_hostile_nesting(stack: Stack) -> None:
    """JSON nested 200,000 deep is a clean bad_data error, not a crash."""
    (stack.workspace / "deep.json").write_text("[" * 200_000)
    assert failed(stack, "data-query", {"path": "deep.json"})["error"] == "bad_data"


def test_data_query_reads_yaml_safely(stack: Stack) -> None:
    """A workspace .yaml file is queried like JSON (timestamps as text); a tag that would
    build a Python object is refused as bad data, nothing run."""
    (stack.workspace / "ci.yaml").write_text(
        "jobs:\n  - {name: build, ok: true, at: 2026-12-01}\n  - {name: test, ok: false}\n"
    )
    out = ok(stack, "data-query", {"path": "ci.yaml", "select": "jobs[*]", "sort_by": "name"})
    assert out["result"] == [
        {"name": "build", "ok": True, "at": "2026-12-01"},
        {"name": "test", "ok": False},
    ]
    hostile = '!!python/object/apply:os.system ["id"]'
    refused = failed(stack, "data-query", {"text": hostile, "format": "yaml"})
    assert refused["error"] == "bad_data" and "constructor" in refused["message"]


def test_data_query_refuses_a_billion_laughs(stack: Stack) -> None:
    """YAML whose aliases expand to 9**9 strings (a few hundred bytes of text) is refused as
    too_large within the call's limits; a self-containing alias and 100,000 nested `[`
    (which crash libyaml's composer) are clean bad_data errors."""
    lines = ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    for prev, name in zip("abcdefgh", "bcdefghi", strict=True):
        lines.append(f"{name}: &{name} [{', '.join([f'*{prev}'] * 9)}]")
    (stack.workspace / "laughs.yml").write_text("\n".join(lines) + "\n")
    bomb = failed(stack, "data-query", {"path": "laughs.yml", "select": "a"})
    assert bomb["error"] == "too_large", bomb
    looped = failed(stack, "data-query", {"text": "&a [*a]", "format": "yaml"})
    assert looped["error"] == "bad_data" and "itself" in looped["message"]
    deep = failed(stack, "data-query", {"text": "[" * 100_000, "format": "yaml"})
    assert deep["error"] == "bad_data" and "deeply" in deep["message"]


def test_archive_list_flags_every_unsafe_entry(stack: Stack) -> None:
    """archive-list names each unsafe entry and why, and says the archive is not safe."""
    _tar(
        stack.workspace / "mixed.tar.gz",
        (_info("ok.txt"), b"fine"),
        (_info("../../etc/cron.d/x"), b"* * * * * root id"),
        (_info("/abs.txt"), b"abs"),
        (_info("ln", tarfile.SYMTYPE, "/etc"), b""),
        (_info("hard", tarfile.LNKTYPE, "/etc/passwd"), b""),
        (_info("dev", tarfile.CHRTYPE), b""),
    )
    out = ok(stack, "archive-list", {"path": "mixed.tar.gz"})
    reasons = {e["name"]: e.get("unsafe") for e in out["entries"]}
    assert reasons == {
        "ok.txt": None,
        "../../etc/cron.d/x": "parent_reference",
        "/abs.txt": "absolute_path",
        "ln": "symlink_entry",
        "hard": "hardlink_entry",
        "dev": "device_entry",
    }
    assert out["safe"] is False and out["format"] == "tar" and out["count"] == 6


def test_archive_extract_unpacks_after_approval(stack: Stack, otto: httpx.Client) -> None:
    """A clean zip waits for approval, then unpacks into its new folder with the right bytes."""
    with zipfile.ZipFile(stack.workspace / "site.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("index.html", "<h1>hi</h1>")
        archive.writestr("css/site.css", "body{}")
    status, out = approved(stack, otto, "archive-extract", {"path": "site.zip", "dest": "site"})
    assert status == "succeeded", out
    assert out == {"dest": "site", "format": "zip", "files": 2, "dirs": 1, "bytes": 17}
    assert (stack.workspace / "site" / "css" / "site.css").read_text() == "body{}"


@pytest.mark.parametrize(
    ("name", "member", "reason"),
    [
        ("slip.tar.gz", _info("../escaped.txt"), "parent_reference"),
        ("abs.tar.gz", _info("/tmp/abs-escape.txt"), "absolute_path"),
        ("sym.tar.gz", _info("ln", tarfile.SYMTYPE, "/"), "symlink_entry"),
        ("hard.tar.gz", _info("h", tarfile.LNKTYPE, "/etc/passwd"), "hardlink_entry"),
        ("fifo.tar.gz", _info("f", tarfile.FIFOTYPE), "fifo_entry"),
    ],
)
def test_archive_extract_refuses_escapes(
    stack: Stack, otto: httpx.Client, name: str, member: tarfile.TarInfo, reason: str
) -> None:
    """Each escape (slip, absolute, symlink, hard link, FIFO) refuses the whole archive: the
    harmless entry beside it is not written either, and nothing lands outside."""
    _tar(stack.workspace / name, (_info("a-good-file.txt"), b"good"), (member, b"evil"))
    dest = f"out-{name.split('.')[0]}"
    status, out = approved(stack, otto, "archive-extract", {"path": name, "dest": dest})
    assert status == "failed", out
    assert out["error"] == "unsafe_entry" and out["reason"] == reason
    assert not (stack.workspace / dest).exists()
    assert not (stack.home / "escaped.txt").exists()
    assert not (stack.workspace / "escaped.txt").exists()


def test_archive_extract_stops_a_zip_bomb(stack: Stack, otto: httpx.Client) -> None:
    """64 MiB of zeros (a 64 KiB zip) against max_bytes 1 MiB: too_large, nothing left."""
    with zipfile.ZipFile(stack.workspace / "bomb.zip", "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("zeros", b"\0" * (64 << 20))
    value = {"path": "bomb.zip", "dest": "bomb", "max_bytes": 1 << 20}
    status, out = approved(stack, otto, "archive-extract", value)
    assert status == "failed" and out["error"] == "too_large", out
    assert not (stack.workspace / "bomb").exists()


def test_sqlite_query_reads_and_cannot_write(stack: Stack) -> None:
    """SELECT with bound parameters returns the rows; DELETE, ATTACH and a second statement
    are refused, and the database is unchanged afterwards."""
    path = stack.workspace / "app.db"
    path.unlink(missing_ok=True)
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE users (id INTEGER, name TEXT)")
        db.executemany("INSERT INTO users VALUES (?, ?)", [(1, "ann"), (2, "bob"), (3, "cy")])
    db.close()
    out = ok(
        stack,
        "sqlite-query",
        {
            "path": "app.db",
            "params": [1],
            "sql": "SELECT id, name FROM users WHERE id > ? ORDER BY id",
        },
    )
    assert out["columns"] == ["id", "name"] and out["rows"] == [[2, "bob"], [3, "cy"]]
    for sql in ("DELETE FROM users", "ATTACH DATABASE 'x.db' AS x", "UPDATE users SET name = 'z'"):
        assert (
            failed(stack, "sqlite-query", {"path": "app.db", "sql": sql})["error"]
            == "not_read_only"
        )
    assert (
        failed(stack, "sqlite-query", {"path": "app.db", "sql": "SELECT 1; DELETE FROM users"})[
            "error"
        ]
        == "bad_sql"
    )
    with sqlite3.connect(path) as db:
        assert db.execute("SELECT count(*) FROM users").fetchone() == (3,)
    db.close()


def test_shell_run_waits_for_confirmation_then_runs(stack: Stack, otto: httpx.Client) -> None:
    """shell-run is held for a person's approval (shell), then runs in the workspace."""
    (stack.workspace / "shell-in.txt").write_text("abc\n")
    value = {"command": "wc -c < shell-in.txt && echo $((6 * 7)) > shell-out.txt"}
    status, out = approved(stack, otto, "shell-run", value, "approval_required_shell")
    assert status == "succeeded" and out["exit_code"] == 0 and out["stdout"].strip() == "4"
    assert (stack.workspace / "shell-out.txt").read_text() == "42\n"
