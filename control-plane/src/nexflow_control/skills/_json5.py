"""JSON5 in the wild: OpenClaw writes ``metadata`` as a JSON5 object inside YAML.

Typical files carry unquoted keys, trailing commas, ``//`` comments and single
quotes inside a ``{...}`` mapping value. Most of that is valid YAML flow style,
but comments are not. When the frontmatter is not valid YAML, `rewrite_json5_values`
replaces every ``key: {...}`` value that parses as JSON5 with the equivalent
one-line JSON (which is valid YAML) followed by the same number of newlines, so
line numbers of everything after it stay right.
"""

from __future__ import annotations

import json
from typing import Any

import pyjson5

from ._values import value_problem

MAX_JSON5_DEPTH = 64


def loads_json5(text: str) -> tuple[bool, Any]:
    """Parse JSON5 without ever raising: ``(ok, value_or_error_message)``.

    The native parser (pyjson5) reads a large schema block in milliseconds where the
    pure-Python one took minutes; it stops at `MAX_JSON5_DEPTH` levels of nesting.
    """
    try:
        value = pyjson5.decode(text, maxdepth=MAX_JSON5_DEPTH)
    except pyjson5.Json5Exception as exc:
        message = exc.args[0] if exc.args else type(exc).__name__
        return False, str(message).splitlines()[0][:200]
    except (ValueError, RecursionError, MemoryError) as exc:
        return False, type(exc).__name__
    problem = value_problem(value)
    if problem is not None:
        return False, problem
    return True, value


def _skip_string(text: str, i: int) -> int:
    quote = text[i]
    i += 1
    while i < len(text):
        if text[i] == "\\":
            i += 2
            continue
        if text[i] == quote or text[i] == "\n":
            return i + 1
        i += 1
    return i


def _matching_brace(text: str, start: int) -> int | None:
    """Index just past the ``}`` closing the ``{`` at ``start`` (JSON5 lexing)."""
    depth = 0
    i = start
    while i < len(text):
        ch = text[i]
        if ch in "\"'":
            i = _skip_string(text, i)
            continue
        if text.startswith("//", i):
            end = text.find("\n", i)
            i = len(text) if end < 0 else end
            continue
        if text.startswith("/*", i):
            end = text.find("*/", i + 2)
            if end < 0:
                return None
            i = end + 2
            continue
        if ch in "{[":
            depth += 1
        elif ch in "}]":
            depth -= 1
            if depth == 0:
                return i + 1
        i += 1
    return None


def _is_value_start(text: str, i: int) -> bool:
    j = i - 1
    while j >= 0 and text[j] in " \t\r\n":
        j -= 1
    return j >= 0 and text[j] == ":"


def rewrite_json5_values(text: str) -> str | None:
    """Rewrite JSON5 mapping values as JSON; None when there was nothing to rewrite."""
    out: list[str] = []
    i = 0
    changed = False
    while i < len(text):
        ch = text[i]
        if ch == "#" and (i == 0 or text[i - 1] in " \t\n"):
            newline = text.find("\n", i)
            stop = len(text) if newline < 0 else newline
            out.append(text[i:stop])
            i = stop
            continue
        if ch == "{" and _is_value_start(text, i):
            end = _matching_brace(text, i)
            if end is None:  # nothing later can close either: stop (keeps this linear)
                out.append(text[i:])
                break
            span = text[i:end]
            ok, value = loads_json5(span)
            if ok:
                span = json.dumps(value, ensure_ascii=False) + "\n" * span.count("\n")
                changed = True
            out.append(span)  # a span that is not JSON5 is kept whole, never rescanned
            i = end
            continue
        out.append(ch)
        i += 1
    return "".join(out) if changed else None
