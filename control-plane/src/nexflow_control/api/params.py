"""Query and path parameters at the edge: bounded strings, integers that fit a database
integer, datetimes that convert to UTC. Out of range is 422 `invalid_request` naming the
parameter, never a 500 or a 503 from a store that was handed what it cannot hold."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated

from fastapi import Path, Query

from ..errors import InvalidInput
from .strict_json import INT_MAX

NAME_MAX = 128
"""Longest name in a path (skill, user, id); longer is 422 before anything is looked up."""
TEXT_MAX = 256
"""Longest filter value."""
_NO_NUL = r"^[^\x00]*$"  # PostgreSQL text cannot hold NUL

FilterText = Annotated[str | None, Query(max_length=TEXT_MAX, pattern=_NO_NUL)]
Seq = Annotated[int | None, Query(ge=1, le=INT_MAX)]
Limit = Annotated[int, Query(ge=1, le=1000)]
PathName = Annotated[str, Path(max_length=NAME_MAX, pattern=_NO_NUL)]


def utc(value: datetime | None, field: str, *, code: str = "invalid_request") -> datetime | None:
    """`value` in UTC (a naive one is taken as UTC); 422 when it has no UTC equivalent
    (`0001-01-01T00:00-01:00` is before year 1 in UTC)."""
    if value is None:
        return None
    if value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    try:
        return value.astimezone(UTC)
    except (OverflowError, ValueError):
        raise InvalidInput(
            f"{field}: {value.isoformat()} is outside the representable range",
            code=code,
            field=field,
        ) from None
