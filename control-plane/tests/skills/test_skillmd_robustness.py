"""Hostile SKILL.md files give one clean diagnostic, never an exception."""

from __future__ import annotations

import os
import time
from pathlib import Path

import pytest
from nexflow_control.skills import Code, load_skill


def _only(folder: Path) -> Code:
    result = load_skill(folder)
    assert result.skill is None
    assert len(result.diagnostics) == 1, [d.format() for d in result.diagnostics]
    diag = result.diagnostics[0]
    assert diag.file == folder / "SKILL.md"
    return diag.code


def _write(tmp_path: Path, data: bytes) -> Path:
    folder = tmp_path / "demo"
    folder.mkdir()
    (folder / "SKILL.md").write_bytes(data)
    return folder


@pytest.mark.parametrize(
    ("data", "code"),
    [
        pytest.param(b"", Code.NO_FRONTMATTER, id="empty"),
        pytest.param(b"# Just markdown\n", Code.NO_FRONTMATTER, id="no-frontmatter"),
        pytest.param(os.urandom(0) + bytes(range(256)) * 8, Code.NOT_UTF8, id="binary"),
        pytest.param(b"---\nname: d\xffx\n---\n", Code.NOT_UTF8, id="bad-utf8"),
        pytest.param(b"---\nname: demo\n", Code.UNTERMINATED_FRONTMATTER, id="unterminated"),
        pytest.param(b"---\n" + b"a: " + b"[" * 5000 + b"\n---\n", Code.YAML_SYNTAX, id="deep"),
        pytest.param(b"---\nx: " + b"9" * 6000 + b"\n---\n", Code.YAML_SYNTAX, id="huge-int"),
        pytest.param(
            b'---\na: &a ["lol","lol"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\n'
            b"c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n---\n",
            Code.YAML_ALIAS,
            id="billion-laughs",
        ),
        pytest.param(
            b"---\n!!python/object/new:os.system [echo pwned]\n---\n", Code.YAML_TAG, id="py-tag"
        ),
        pytest.param(b"---\nx: !!binary aGVsbG8=\n---\n", Code.YAML_TAG, id="binary-tag"),
        pytest.param(b"---\n{a: 1, b: {}\n---\n", Code.YAML_SYNTAX, id="broken-flow"),
    ],
)
def test_hostile_content(tmp_path: Path, data: bytes, code: Code) -> None:
    """Junk, bombs and unsafe tags each produce their own single diagnostic code."""
    assert _only(_write(tmp_path, data)) is code


def test_bad_utf8_names_line(tmp_path: Path) -> None:
    """Invalid UTF-8 is reported on the line where the bad byte sits."""
    folder = _write(tmp_path, b"---\nname: demo\ndescription: \xc3(\n---\n")
    assert load_skill(folder).diagnostics[0].line == 3


def test_file_too_large(tmp_path: Path) -> None:
    """A SKILL.md over 1 MiB is refused without being parsed."""
    folder = _write(tmp_path, b"---\nname: demo\ndescription: d\n---\n" + b"x" * (1024 * 1024))
    assert _only(folder) is Code.FILE_TOO_LARGE


def test_skill_md_is_directory(tmp_path: Path) -> None:
    """A SKILL.md that is a directory gives ``bad_file``."""
    (tmp_path / "demo" / "SKILL.md").mkdir(parents=True)
    assert _only(tmp_path / "demo") is Code.BAD_FILE


def test_skill_md_symlink_outside(tmp_path: Path) -> None:
    """A SKILL.md symlinked to a file outside the skill folder is not read."""
    (tmp_path / "elsewhere.md").write_text("---\nname: demo\ndescription: d\n---\n")
    (tmp_path / "demo").mkdir()
    (tmp_path / "demo" / "SKILL.md").symlink_to(tmp_path / "elsewhere.md")
    assert _only(tmp_path / "demo") is Code.BAD_FILE


def test_skill_md_fifo(tmp_path: Path) -> None:
    """A SKILL.md that is a FIFO is refused instead of blocking the loader."""
    (tmp_path / "demo").mkdir()
    os.mkfifo(tmp_path / "demo" / "SKILL.md")
    assert _only(tmp_path / "demo") is Code.BAD_FILE


def test_crlf_and_bom(tmp_path: Path) -> None:
    """Windows line endings and a UTF-8 BOM are accepted."""
    folder = _write(tmp_path, b"\xef\xbb\xbf---\r\nname: demo\r\ndescription: d\r\n---\r\nHi\r\n")
    result = load_skill(folder)
    assert result.skill is not None and result.skill.body == "Hi"


def test_many_unclosed_braces_fast(tmp_path: Path) -> None:
    """A frontmatter full of unclosed ``key: {`` values fails quickly (no quadratic scan)."""
    body = b"".join(b"k%d: {\n" % i for i in range(20000))
    folder = _write(tmp_path, b"---\n" + body + b"---\n")
    start = time.monotonic()
    assert _only(folder) is Code.YAML_SYNTAX
    assert time.monotonic() - start < 20
