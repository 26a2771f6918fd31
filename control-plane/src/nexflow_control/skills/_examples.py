"""The runnable examples of a SKILL.md's ``## Examples`` section (`nexflow skill test`).

The section is a Markdown list, as skills already write it. One bullet is one example;
it is runnable when it has, in inline code, a JSON object as the input, an arrow (``→``
or ``->``), and after the arrow what should come back:

* ``- Input `{"message": "hi"}` → output `{"message": "hi"}`.``: the call succeeds, its
  output fits the output schema and equals that JSON value;
* ``- `{"text": "abc"}` → `{"digest": "ba78…", ...}` ``: an expected value holding
  ``…`` or ``...`` is elided: the call succeeds and its output fits the schema, nothing
  more is compared;
* ``- `{"path": "/etc/passwd"}` → fails with `{"error": "outside_workspace", ...}` ``:
  the call fails (exit status not 0, not killed) and its output's ``error`` is that code
  (``fails with `outside_workspace` `` says the same; plain ``fails`` takes any error).

Everything else is prose and is skipped with the reason: no JSON input, an elided input,
no arrow, no code after the arrow, a policy outcome (``→ denied by policy ...``: policy is
`nexflow up`'s business, not the sandbox's). Words around the code spans are free.
Pure functions of the file's text: nothing here reads anything but the SKILL.md.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

_HEADING = re.compile(r"^ {0,3}(#{1,6})\s+(.*?)\s*#*\s*$")
_FENCE = re.compile(r"^ {0,3}(`{3,}|~{3,})")
_BULLET = re.compile(r"^ {0,3}(?:[-*+]|\d{1,9}[.)])\s+(.*)$")
_CODE = re.compile(r"(`+)(.+?)\1", re.DOTALL)
_ARROW = re.compile(r"→|->")
_ERROR_CODE = re.compile(r'"error"\s*:\s*"([^"\\]{1,100})"')
_BARE_CODE = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")
_ELIDED = ("…", "...")

Expect = Literal["output", "schema", "error", "skip"]


@dataclass(frozen=True, slots=True)
class Example:
    """One bullet of ``## Examples``: its line in SKILL.md, what it runs, what it expects.

    `expect`: ``output`` (equal to `expected`), ``schema`` (elided: fits the output
    schema), ``error`` (fails, with `error_code` when one is named) or ``skip`` (prose;
    `reason` says why)."""

    line: int
    text: str
    expect: Expect
    input: dict[str, Any] | None = None
    expected: Any = None
    error_code: str | None = None
    reason: str = ""


def _section(lines: list[str]) -> list[tuple[int, str]]:
    """(0-based index, line) of the lines under the first ``Examples`` heading (its
    subsections included, fenced blocks left out)."""
    out: list[tuple[int, str]] = []
    level: int | None = None
    fence: str | None = None
    for index, line in enumerate(lines):
        opened = _FENCE.match(line)
        if fence is not None:  # fenced text is never an example
            if opened and opened.group(1)[0] == fence[0] and len(opened.group(1)) >= len(fence):
                fence = None
            continue
        if opened:
            fence = opened.group(1)
            continue
        heading = _HEADING.match(line)
        if heading:
            depth, title = len(heading.group(1)), heading.group(2).strip().lower()
            if level is not None and depth <= level:
                break
            if level is None and title == "examples":
                level = depth
                continue
        if level is not None:
            out.append((index, line))
    return out


def _bullets(section: list[tuple[int, str]]) -> list[tuple[int, str]]:
    """(1-based line, text) per bullet; indented lines carry on the bullet above."""
    out: list[tuple[int, str]] = []
    for index, line in section:
        bullet = _BULLET.match(line)
        if bullet:
            out.append((index + 1, bullet.group(1).strip()))
        elif out and line.strip() and line[:1].isspace():
            start, text = out[-1]
            out[-1] = (start, f"{text} {line.strip()}")
        elif not line.strip() and out:
            continue
        elif out:  # a paragraph ends the list item
            out.append((index + 1, ""))
    return [(line, text) for line, text in out if text]


def _split(text: str) -> tuple[list[str], str | None, list[str], str]:
    """(code spans before the arrow, prose after it or None, spans after, text after)."""
    spans = list(_CODE.finditer(text))
    cursor = 0
    for span in [*spans, None]:
        end = span.start() if span is not None else len(text)
        arrow = _ARROW.search(text, cursor, end)
        if arrow is not None:
            before = [s.group(2) for s in spans if s.end() <= arrow.start()]
            after = [s for s in spans if s.start() >= arrow.end()]
            rest = text[arrow.end() :]
            prose = _CODE.sub(" ", rest).strip().lower()
            return before, prose, [s.group(2) for s in after], rest
        if span is None:
            break
        cursor = span.end()
    return [s.group(2) for s in spans], None, [], ""


def _json(text: str) -> tuple[bool, Any]:
    try:
        return True, json.loads(text)
    except ValueError:
        return False, None


def _elided(text: str) -> bool:
    return any(mark in text for mark in _ELIDED)


def _error_code(spans: list[str]) -> str | None:
    for span in spans:
        ok, value = _json(span)
        code = value.get("error") if ok and isinstance(value, dict) else None
        if isinstance(code, str):
            return code
        found = _ERROR_CODE.search(span)
        if found:
            return found.group(1)
        if _BARE_CODE.match(span.strip()):
            return span.strip()
    return None


def parse_example(line: int, text: str) -> Example:
    """One bullet read as an example (see the module docstring)."""
    before, prose, after, _ = _split(text)
    found = None
    for span in before:
        ok, value = _json(span)
        if ok and isinstance(value, dict):
            found = (span, value)
            break
    if found is None:
        return Example(line, text, "skip", reason="no JSON object input in `code`")
    if _elided(found[0]):
        return Example(line, text, "skip", reason="the input is elided (… or ...)")
    value = found[1]
    if prose is None:
        return Example(line, text, "skip", input=value, reason="no expected result (→)")
    if prose.startswith(("fails", "fail ", "errors", "an error")):
        return Example(line, text, "error", input=value, error_code=_error_code(after))
    if prose.startswith(("denied", "refused by policy", "needs approval", "pending")):
        why = "a policy outcome: try it with `nexflow skill call` against `nexflow up`"
        return Example(line, text, "skip", input=value, reason=why)
    if not after:
        return Example(line, text, "skip", input=value, reason="the expected result is prose")
    expected = after[0]
    if _elided(expected):
        return Example(line, text, "schema", input=value)
    ok, parsed = _json(expected)
    if not ok:
        return Example(line, text, "skip", input=value, reason="the expected result is not JSON")
    return Example(line, text, "output", input=value, expected=parsed)


def read_examples(skill_md: Path) -> list[Example]:
    """The examples of one SKILL.md, in file order; [] when it has no Examples section."""
    lines = skill_md.read_text(encoding="utf-8").replace("\r\n", "\n").split("\n")
    if lines and lines[0].rstrip() == "---":  # the frontmatter: blank it, keep the numbering
        close = next((i for i in range(1, len(lines)) if lines[i].rstrip() in ("---", "...")), 0)
        lines[: close + 1] = [""] * (close + 1)
    return [parse_example(line, item) for line, item in _bullets(_section(lines))]
