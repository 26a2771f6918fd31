"""Hostile archives, built for real, are refused by name and leave nothing behind."""

from __future__ import annotations

import io
import stat
import tarfile
import warnings
import zipfile
from pathlib import Path

import pytest
from nexflow_registry.archives import Limits, unpack
from nexflow_registry.errors import ArchiveRefused


def _tar(*members: tuple[tarfile.TarInfo, bytes | None]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for info, data in members:
            tar.addfile(info, io.BytesIO(data) if data is not None else None)
    return buf.getvalue()


def _file(name: str, data: bytes = b"x") -> tuple[tarfile.TarInfo, bytes]:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    return info, data


def _special(name: str, kind: bytes, target: str = "") -> tuple[tarfile.TarInfo, None]:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    return info, None


def _zip(*members: tuple[str, bytes], modes: dict[str, int] | None = None) -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, data in members:
            info = zipfile.ZipInfo(name)
            if modes and name in modes:
                info.external_attr = modes[name] << 16
            with warnings.catch_warnings():  # a duplicate name is what some tests build
                warnings.simplefilter("ignore", UserWarning)
                zf.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED)
    return buf.getvalue()


def _refused(
    data: bytes, tmp_path: Path, code: str, entry: str, limits: Limits | None = None
) -> None:
    dest = tmp_path / "out" / "pkg"
    with pytest.raises(ArchiveRefused) as info:
        unpack(data, dest, limits)
    assert info.value.code == code
    assert info.value.entry == entry
    assert repr(entry) in info.value.message
    assert not dest.exists()
    leftovers = list((tmp_path / "out").iterdir()) if (tmp_path / "out").exists() else []
    assert leftovers == []
    assert not (tmp_path / "evil").exists()


GOOD = [_file("SKILL.md", b"---\nname: a\n---\n")]


@pytest.mark.parametrize(
    ("members", "code", "entry"),
    [
        ([*GOOD, _file("../evil", b"pwned")], "archive_path_traversal", "../evil"),
        ([*GOOD, _file("sub/../../evil")], "archive_path_traversal", "sub/../../evil"),
        ([*GOOD, _file("/tmp/evil")], "archive_absolute_path", "/tmp/evil"),
        ([*GOOD, _special("link", tarfile.SYMTYPE, "/etc/passwd")], "archive_link", "link"),
        ([*GOOD, _special("hard", tarfile.LNKTYPE, "SKILL.md")], "archive_link", "hard"),
        ([*GOOD, _special("dev", tarfile.CHRTYPE)], "archive_special_file", "dev"),
        ([*GOOD, _special("fifo", tarfile.FIFOTYPE)], "archive_special_file", "fifo"),
        ([*GOOD, _file("SKILL.md", b"again")], "archive_duplicate", "SKILL.md"),
        ([*GOOD, _file("skill.MD", b"case")], "archive_duplicate", "skill.MD"),
        ([*GOOD, _file("a\\b")], "archive_bad_name", "a\\b"),
    ],
)
def test_hostile_tar_members_are_refused(
    members: list[tuple[tarfile.TarInfo, bytes | None]], code: str, entry: str, tmp_path: Path
) -> None:
    """Traversal, absolute paths, links, devices, FIFOs, duplicates: refused, nothing written."""
    _refused(_tar(*members), tmp_path, code, entry)


def test_a_zip_symlink_and_traversal_are_refused(tmp_path: Path) -> None:
    """A zip member marked as a symlink, or named with '..', is refused."""
    link = _zip(("SKILL.md", b"a"), ("ln", b"/etc/passwd"), modes={"ln": stat.S_IFLNK | 0o777})
    _refused(link, tmp_path, "archive_link", "ln")
    fifo = _zip(("SKILL.md", b"a"), ("p", b""), modes={"p": stat.S_IFIFO | 0o644})
    _refused(fifo, tmp_path, "archive_special_file", "p")
    _refused(
        _zip(("SKILL.md", b"a"), ("../../evil", b"x")),
        tmp_path,
        "archive_path_traversal",
        "../../evil",
    )
    _refused(
        _zip(("SKILL.md", b"a"), ("SKILL.md", b"b")), tmp_path, "archive_duplicate", "SKILL.md"
    )


def test_a_zip_bomb_is_refused_before_it_is_inflated(tmp_path: Path) -> None:
    """9 MB of zeros packed into a few KB trips the ratio check without unpacking."""
    data = _zip(("SKILL.md", b"a"), ("zeros", b"\0" * (9 * 1024 * 1024)))
    assert len(data) < 100_000
    _refused(data, tmp_path, "archive_bomb", "zeros")


def test_size_and_count_limits(tmp_path: Path) -> None:
    """A file, the total, or the member count over the limits is refused naming the member."""
    limits = Limits(max_entries=3, max_file_bytes=1000, max_total_bytes=1500, max_ratio=10_000)
    _refused(
        _tar(*GOOD, _file("big", b"y" * 1001)), tmp_path, "archive_file_too_large", "big", limits
    )
    _refused(
        _tar(*GOOD, _file("a", b"y" * 900), _file("b", b"y" * 900)),
        tmp_path,
        "archive_too_large",
        "b",
        limits,
    )
    many = [_file(f"f{i}") for i in range(4)]
    _refused(_tar(*many), tmp_path, "archive_too_many_entries", "f3", limits)


def test_garbage_and_truncated_archives_are_refused(tmp_path: Path) -> None:
    """Bytes that are no archive, or a truncated one, get a clear code."""
    _refused(b"hello world", tmp_path, "archive_format_unknown", "<archive>")
    whole = _tar(*GOOD, _file("run.py", b"print(1)\n" * 500))
    _refused(whole[: len(whole) // 2], tmp_path, "archive_malformed", "<archive>")


def test_a_good_archive_unpacks_with_its_top_folder_stripped(tmp_path: Path) -> None:
    """`echo/SKILL.md` and `echo/run.py` land as `SKILL.md` and `run.py` in the destination."""
    data = _tar(_file("echo/SKILL.md", b"skill"), _file("echo/lib/run.py", b"code"))
    unpack(data, tmp_path / "pkg")
    assert (tmp_path / "pkg" / "SKILL.md").read_bytes() == b"skill"
    assert (tmp_path / "pkg" / "lib" / "run.py").read_bytes() == b"code"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["pkg"]
