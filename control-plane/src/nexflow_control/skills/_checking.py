"""Checking one input against a skill's input schema, with the result as a plain value.

`check_input` runs in two places: inline on the server's event loop under a small slice
of CPU time (`INLINE_CPU_S`), and, when that slice is not enough, in a validation worker
process with the full step budget (`_pool`). Both answer with an `InputProblem` (or None):
a plain value that crosses a process boundary as it is, never a pickled exception.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from ._validator import (
    MAX_STEPS,
    UnsafeSchema,
    ValidationTooCostly,
    first_error,
    safe_validator,
)

# The inline tier's slice of the event loop's CPU time (thread CPU time, so a busy machine
# does not shrink it). Measured on the 2-core dev machine under load: a fan-out schema
# that exhausts it holds the loop 2.2 ms (the clock is read every 32 steps); a small
# input (a few fields) takes 20-80 us, i.e. never leaves the loop.
INLINE_CPU_S = 0.002
_CACHE_SIZE = 256
NEED_SCHEMA = "need-schema"  # a worker's answer when it no longer holds a key's schema

__all__ = ["INLINE_CPU_S", "NEED_SCHEMA", "InputProblem", "NeedsWorker", "check_input"]


class NeedsWorker(RuntimeError):
    """The inline slice ran out before the validation ended: hand it to a worker."""


@dataclass(frozen=True, slots=True)
class InputProblem:
    """Why an input was refused: the HTTP error code, a message, the field (`input.a.b`)
    and the JSON Schema keyword that failed (None when no single keyword did)."""

    code: str
    message: str
    field: str
    keyword: str | None = None


_validators: OrderedDict[str, Any] = OrderedDict()


def _validator(key: str, schema: dict[str, Any]) -> Any:
    validator = _validators.get(key)
    if validator is None:
        validator = _validators[key] = safe_validator(schema)
        if len(_validators) > _CACHE_SIZE:
            _validators.popitem(last=False)
    else:
        _validators.move_to_end(key)
    return validator


def check_input(
    key: str, schema: dict[str, Any], value: Any, *, inline: bool = False, root: str = "input"
) -> InputProblem | None:
    """The first problem of `value` against `schema` (cached by `key`, which must change
    when the schema does), or None. Inline, NeedsWorker when the CPU slice runs out.
    `root` names the value in fields and messages (`input.a.b`, or `output.a.b` when a
    call's output is checked against the skill's output schema)."""
    try:
        validator = _validator(key, schema)
        error = first_error(
            validator, value, steps=MAX_STEPS, cpu_s=INLINE_CPU_S if inline else None
        )
    except UnsafeSchema as exc:  # the loader refuses these; never run one anyway
        return InputProblem("invalid_input", f"the skill's {root} schema is unsafe: {exc}", root)
    except ValidationTooCostly as exc:
        if inline:
            raise NeedsWorker(str(exc)) from None
        return InputProblem("input_too_complex", f"{root}: {exc}", root)
    if error is None:
        return None
    where = ".".join(str(p) for p in error.absolute_path)
    field = f"{root}.{where}" if where else root
    return InputProblem("invalid_input", f"{field}: {error.message}", field, error.validator)
