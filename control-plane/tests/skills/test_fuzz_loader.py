"""Property-based fuzzing of the SKILL.md loader: structured hostile frontmatter and
Markdown, raw bytes, and a generated corpus of a few hundred mutated files. The loader
must never raise (every problem is a diagnostic) and must answer each case quickly."""

from __future__ import annotations

import random
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nexflow_control.skills import Code, Diagnostic, load_skill

from .conftest import CORPUS

CASE_SECONDS = 2.0  # per file; a shared CI core is slow, a stall is orders beyond this
FUZZ = settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow], derandomize=True
)

# Pieces that have broken YAML, JSON5 and schema readers somewhere.
SCALARS = [
    "demo", "''", '""', "~", "null", ".inf", "-.nan", "0x1F", "0o17", "1_000", "190:20:30",
    "2001-12-14t21:59:43.10-05:00", "1.0e+999", "9" * 4400, "-" + "9" * 30, "yes", "!!binary aGk=",
    "!!python/object/apply:os.system [id]", "!local x", "&a x", "*a", "'\\x00'", '"\\x1b[2J"',
    '"\\ud800"', '"\\U0010FFFF"', "{a: [1, {b: 2}]}", "[" * 80, "{" * 80, "'{timeoutSec: 5,}'",
    "'{a: Infinity}'", "|\n  block\n  text", ">-\n  folded", "\"multi\n  line\"", "\t",
    "? [a]\n: b",
    "{$ref: 'http://x/y'}", "{pattern: '(a+)+$'}", "{pattern: '(?<=a)'}", "{$ref: '#'}",
]  # fmt: skip
KEYS = [
    "name", "description", "version", "metadata", "input_schema", "output_schema", "sandbox",
    "permissions", "location", "requirements", "tags", "image", "runtime", "<<", "? x", "-",
    "metadata.openclaw", "allowed-tools", "env_required", "x" * 300, "名前",
]  # fmt: skip
BODY = [
    "## Input schema", "## Output schema", "```json", "```json5", "```", "~~~", "# Title",
    '{"type": "object", "properties": {"a": {"pattern": "(?<=x)"}}}', "{type: 'object',}",
    '{"$ref": "#"}', "[" * 200, "\x00", "\x1b[31m", "\u202e", "plain text",
]  # fmt: skip


@st.composite
def skill_md(draw: st.DrawFn) -> bytes:
    """A SKILL.md assembled from hostile pieces, sometimes valid, mostly not."""
    lines = ["---", "name: demo", "description: fuzz"] if draw(st.booleans()) else ["---"]
    for _ in range(draw(st.integers(0, 12))):
        key = draw(st.sampled_from(KEYS))
        value = draw(st.one_of(st.sampled_from(SCALARS), st.text(max_size=40)))
        indent = " " * draw(st.sampled_from([0, 0, 0, 2, 3]))
        lines.append(f"{indent}{key}: {value}")
    if draw(st.booleans()):
        lines.append(draw(st.sampled_from(["---", "...", "--- x"])))
    lines.extend(draw(st.lists(st.one_of(st.sampled_from(BODY), st.text(max_size=30)), max_size=8)))
    text = "\n".join(lines)
    encoding = draw(st.sampled_from(["utf-8", "utf-8", "utf-16", "latin-1"]))
    return text.encode(encoding, "surrogatepass" if encoding != "latin-1" else "replace")


@pytest.fixture(scope="module")
def scratch() -> Iterator[Path]:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "demo"
        folder.mkdir()
        yield folder


def _load(folder: Path, data: bytes) -> list[Diagnostic]:
    (folder / "SKILL.md").write_bytes(data)
    start = time.monotonic()
    result = load_skill(folder)  # any exception fails the test: that is the property
    took = time.monotonic() - start
    assert took < CASE_SECONDS, f"{took:.2f}s for {data[:120]!r}"
    assert result.skill is not None or any(d.is_error for d in result.diagnostics)
    for d in result.diagnostics:
        assert isinstance(d.code, Code) and d.line >= 1 and d.file == folder / "SKILL.md"
    return result.diagnostics


@FUZZ
@given(data=skill_md())
def test_structured_hostile_skill_md_never_crashes(scratch: Path, data: bytes) -> None:
    """Hostile frontmatter and Markdown always end in a skill or diagnostics, quickly."""
    _load(scratch, data)


@FUZZ
@given(data=st.binary(max_size=2048))
def test_raw_bytes_never_crash(scratch: Path, data: bytes) -> None:
    """Arbitrary bytes, with or without a frontmatter fence, never raise."""
    _load(scratch, data)
    _load(scratch, b"---\n" + data + b"\n---\n")


def _mutants(count: int) -> Iterator[bytes]:
    """``count`` malformed SKILL.md, mutated from the valid corpus (seeded: reproducible)."""
    rng = random.Random(13)
    seeds = [p.read_bytes() for p in sorted(CORPUS.glob("valid/*/SKILL.md"))]
    inserts = [s.encode("utf-8", "surrogatepass") for s in SCALARS + BODY]
    for _ in range(count):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 6)):
            at = rng.randrange(len(data) + 1)
            match rng.randrange(5):
                case 0:
                    data[at:at] = rng.choice(inserts)
                case 1:
                    del data[at : at + rng.randint(1, 40)]
                case 2:
                    data[at:at] = bytes([rng.randrange(256)])
                case 3:
                    data[at:at] = b"\n" + b" " * rng.randrange(6) + rng.choice(inserts) + b"\n"
                case _:
                    data = data[:at]
        yield bytes(data)


def test_generated_corpus_never_crashes(scratch: Path) -> None:
    """400 mutants of the valid corpus: no exception, each answered quickly, and most refused."""
    refused = 0
    for data in _mutants(400):
        diagnostics = _load(scratch, data)
        refused += any(d.is_error for d in diagnostics)
    assert refused > 200  # the mutations really are malformed
