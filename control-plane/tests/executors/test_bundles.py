"""Skill bundles: deterministic bytes, only files and directories, links pointing out refused."""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import tarfile
from pathlib import Path

import pytest
from nexflow_control.executors import BundleRefused, build_bundle
from nexflow_control.settings import REPO_ROOT


def _copy_echo(target: Path) -> Path:
    shutil.copytree(REPO_ROOT / "skills" / "echo", target)
    return target


def test_same_folder_same_bytes_whatever_the_metadata(tmp_path: Path) -> None:
    """Two copies with other mtimes, owners and modes give the same bundle and sha256."""
    a = _copy_echo(tmp_path / "a")
    b = _copy_echo(tmp_path / "b")
    for path in b.rglob("*"):
        os.utime(path, (1_000_000, 1_000_000))
        if path.is_file():
            path.chmod(0o600 if not os.access(path, os.X_OK) else 0o700)
            os.chown(path, 1234, 5678)
    (b / "__pycache__").mkdir()
    (b / "__pycache__" / "x.cpython-312.pyc").write_bytes(b"\0junk")
    one, two = build_bundle(a), build_bundle(b)
    assert one.data == two.data
    assert one.sha256 == two.sha256 == hashlib.sha256(one.data).hexdigest()


def test_members_are_normalised_files_and_directories(tmp_path: Path) -> None:
    """Entries are sorted, owned by 0:0 with mtime 0 and mode 0755/0644, files and dirs only."""
    skill = _copy_echo(tmp_path / "s")
    (skill / "lib").mkdir()
    (skill / "lib" / "tool.sh").write_text("echo hi\n")
    (skill / "lib" / "tool.sh").chmod(0o700)
    (skill / "lib" / "data.txt").write_text("x")
    with tarfile.open(fileobj=io.BytesIO(build_bundle(skill).data)) as tar:
        members = tar.getmembers()
        assert tar.extractfile("lib/data.txt").read() == b"x"  # type: ignore[union-attr]
    names = [m.name for m in members]
    assert names == sorted(names) and "lib" in names and "SKILL.md" in names
    assert {(m.uid, m.gid, m.mtime, m.uname, m.gname) for m in members} == {(0, 0, 0, "", "")}
    modes = {m.name: m.mode for m in members}
    assert modes["lib"] == 0o755 and modes["lib/tool.sh"] == 0o755
    assert modes["lib/data.txt"] == 0o644
    assert all(m.isfile() or m.isdir() for m in members)


def test_link_inside_is_stored_as_the_file(tmp_path: Path) -> None:
    """A link to a file inside the skill travels as that file's content, not as a link."""
    skill = _copy_echo(tmp_path / "s")
    (skill / "real.txt").write_text("content")
    (skill / "alias.txt").symlink_to("real.txt")
    with tarfile.open(fileobj=io.BytesIO(build_bundle(skill).data)) as tar:
        alias = tar.getmember("alias.txt")
        assert alias.isfile()
        assert tar.extractfile(alias).read() == b"content"  # type: ignore[union-attr]


@pytest.mark.parametrize("kind", ["file", "directory"])
def test_link_pointing_out_is_refused(tmp_path: Path, kind: str) -> None:
    """A link to a file or directory outside the skill refuses the bundle, naming the link."""
    outside = tmp_path / "secret"
    if kind == "file":
        outside.write_text("host secret")
    else:
        outside.mkdir()
    skill = _copy_echo(tmp_path / "s")
    (skill / "leak").symlink_to(outside)
    with pytest.raises(BundleRefused, match=r"'leak'.*outside"):
        build_bundle(skill)


def test_link_to_a_directory_inside_is_refused(tmp_path: Path) -> None:
    """A link to a directory, even inside the skill, is refused (the archive has no links)."""
    skill = _copy_echo(tmp_path / "s")
    (skill / "sub").mkdir()
    (skill / "loop").symlink_to(".")
    with pytest.raises(BundleRefused, match=r"'loop'.*directory"):
        build_bundle(skill)


def test_fifo_is_refused(tmp_path: Path) -> None:
    """A named pipe in the skill folder refuses the bundle."""
    skill = _copy_echo(tmp_path / "s")
    os.mkfifo(skill / "pipe")
    with pytest.raises(BundleRefused, match="'pipe'"):
        build_bundle(skill)
