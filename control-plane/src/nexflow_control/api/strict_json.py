"""The one JSON decoder of the HTTP edge: strict, bounded, and total.

`decode(raw)` turns a request body into a value every later step can hash, store, send
to a sandbox and echo back without failing, or raises `InvalidInput` with a stable code:

    invalid_json         not UTF-8, or not JSON (syntax)
    number_out_of_range  `NaN` / `Infinity` literals, a number that overflows to infinity,
                         an integer outside the signed 64-bit range (+ field)
    invalid_string       a string (or key) holding a lone UTF-16 surrogate (`"\\ud800"`),
                         which no UTF-8 encoder accepts (+ field)
    json_too_deep        arrays/objects nested deeper than `MAX_DEPTH` (+ field)

`parse_lenient(text)` is the same check for text that is not a request (a skill's
stdout): it answers None where `decode` would refuse.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any

from ..errors import InvalidInput

MAX_DEPTH = 64
"""Nesting of arrays and objects, the body's own wrapper included."""
INT_MIN, INT_MAX = -(2**63), 2**63 - 1
_MAX_INT_DIGITS = 20  # longer literals are out of range whatever they say: refused unparsed


class _Refused(ValueError):
    def __init__(self, code: str, message: str, field: str | None = None) -> None:
        super().__init__(message)
        self.code, self.message, self.field = code, message, field


def _constant(name: str) -> Any:
    raise _Refused("number_out_of_range", f"{name} is not a JSON number")


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise _Refused("number_out_of_range", f"number {text[:32]} overflows a double")
    return value


def _int(text: str) -> int:
    if len(text.lstrip("-")) > _MAX_INT_DIGITS:
        raise _Refused("number_out_of_range", f"integer {text[:24]}… is out of range")
    value = int(text)
    if not INT_MIN <= value <= INT_MAX:
        raise _Refused("number_out_of_range", f"integer {text} is outside the 64-bit range")
    return value


_DECODER = json.JSONDecoder(parse_float=_float, parse_int=_int, parse_constant=_constant)


_SURROGATE_ESCAPE = re.compile(r"\\u[dD][89a-fA-F]")
"""How a lone surrogate gets into decoded JSON: UTF-8 text cannot hold one, an escape can."""


def _has_surrogate(text: str) -> bool:
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _path_to(root: Any, target: Any) -> str:
    """The dotted path of `target` (found by identity) in `root`, for the error's field."""
    trail: list[tuple[Any, list[str | int]]] = [(root, [])]
    while trail:
        node, path = trail.pop()
        if node is target:
            return ".".join(str(p) for p in path) or "body"
        items = node.items() if isinstance(node, dict) else enumerate(node)
        trail.extend((v, [*path, k]) for k, v in items if isinstance(v, dict | list | str))
    return "body"


def _check(value: Any, text: str) -> None:
    """Depth and lone surrogates, walked without recursion; skipped when the text shows
    there can be neither (few brackets, no surrogate escape)."""
    surrogates = _SURROGATE_ESCAPE.search(text) is not None
    if not surrogates and text.count("[") + text.count("{") < MAX_DEPTH:
        return
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        node, depth = stack.pop()
        if type(node) is str:
            if _has_surrogate(node):
                raise _Refused(
                    "invalid_string", "string holds a lone surrogate", _path_to(value, node)
                )
            continue
        if depth >= MAX_DEPTH:
            raise _Refused(
                "json_too_deep", f"nested deeper than {MAX_DEPTH}", _path_to(value, node)
            )
        if type(node) is dict:
            if surrogates and any(_has_surrogate(k) for k in node):
                raise _Refused(
                    "invalid_string", "key holds a lone surrogate", _path_to(value, node)
                )
            children: Any = node.values()
        else:
            children = node
        for child in children:
            kind = type(child)
            if kind is dict or kind is list or (surrogates and kind is str):
                stack.append((child, depth + 1))


def _loads(text: str) -> Any:
    try:
        value = _DECODER.decode(text)
    except _Refused:
        raise
    except RecursionError:
        raise _Refused("json_too_deep", f"nested deeper than {MAX_DEPTH}") from None
    except ValueError as exc:
        raise _Refused("invalid_json", f"request body is not valid JSON: {exc}") from None
    _check(value, text)
    return value


def decode(raw: bytes) -> Any:
    """The body as a JSON value; `InvalidInput` with one of the module's codes otherwise."""
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(
            f"request body is not UTF-8 (byte {exc.start})", code="invalid_json"
        ) from None
    try:
        return _loads(text)
    except _Refused as exc:
        extra = {} if exc.field is None else {"field": exc.field}
        raise InvalidInput(exc.message, code=exc.code, **extra) from None


def parse_lenient(text: str) -> tuple[bool, Any]:
    """(True, value) when `text` is JSON that `decode` would accept, else (False, None)."""
    try:
        return True, _loads(text)
    except _Refused:
        return False, None
