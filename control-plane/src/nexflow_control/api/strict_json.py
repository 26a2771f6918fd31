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


def _where(path: list[str | int]) -> str:
    return ".".join(str(p) for p in path) or "body"


def _has_surrogate(text: str) -> bool:
    # Fast path: a str without surrogates encodes; the check is C speed either way.
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return True
    return False


def _check(value: Any) -> None:
    """Depth and surrogates, walked without recursion (the depth is what is checked)."""
    stack: list[tuple[Any, list[str | int]]] = [(value, [])]
    while stack:
        node, path = stack.pop()
        if isinstance(node, str):
            if _has_surrogate(node):
                raise _Refused("invalid_string", "string holds a lone surrogate", _where(path))
            continue
        if not isinstance(node, dict | list):
            continue
        if len(path) >= MAX_DEPTH:
            raise _Refused("json_too_deep", f"nested deeper than {MAX_DEPTH}", _where(path))
        if isinstance(node, dict):
            for key, item in node.items():
                if _has_surrogate(key):
                    raise _Refused("invalid_string", "key holds a lone surrogate", _where(path))
                stack.append((item, [*path, key]))
        else:
            stack.extend((item, [*path, i]) for i, item in enumerate(node))


def _loads(text: str) -> Any:
    try:
        value = _DECODER.decode(text)
    except _Refused:
        raise
    except RecursionError:
        raise _Refused("json_too_deep", f"nested deeper than {MAX_DEPTH}") from None
    except ValueError as exc:
        raise _Refused("invalid_json", f"request body is not valid JSON: {exc}") from None
    _check(value)
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
