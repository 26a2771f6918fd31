"""Request bodies read by hand (so every error has our stable code and names the field)."""

from __future__ import annotations

import json
from typing import Any

from fastapi import Request

from ..errors import InvalidInput


async def json_object(request: Request, fields: frozenset[str]) -> dict[str, Any]:
    """The body as a JSON object with no keys but `fields` ({} when empty); 422 otherwise."""
    raw = await request.body()
    try:
        body = json.loads(raw) if raw.strip() else {}
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"request body is not valid JSON: {exc}", code="invalid_json") from None
    if not isinstance(body, dict):
        raise InvalidInput("request body must be a JSON object", field="body")
    unknown = sorted(set(body) - fields)
    if unknown:
        raise InvalidInput(f"unknown field {unknown[0]!r} in request body", field=unknown[0])
    return body
