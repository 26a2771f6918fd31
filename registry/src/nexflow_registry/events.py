"""Log entries: each audited write appends one canonical-JSON event in its transaction."""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy.ext.asyncio import AsyncConnection

from .auth import now
from .transparency import log


def entry_bytes(event: dict[str, Any]) -> bytes:
    """A log entry: canonical JSON of the event."""
    return json.dumps(event, sort_keys=True, separators=(",", ":")).encode()


async def append(conn: AsyncConnection, event: dict[str, Any]) -> int:
    """Append `event` (with the time) to the transparency log; its index."""
    return await log.append(conn, [entry_bytes({**event, "time": now()})])
