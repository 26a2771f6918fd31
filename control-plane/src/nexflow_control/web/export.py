"""`GET /api/v1/audit/export?format=jsonl|csv&<filters>`: every matching event, oldest
first, streamed page by page (keyset on seq), so a million events never sit in memory.

JSONL lines are `AuditRecord.to_dict()`: with `prev_hash` and `hash`, so an exported
file can be re-verified offline. CSV flattens `reason_codes` (`;`-joined) and `payload`
(JSON) and defuses spreadsheet formulas: a cell an attacker controls (skill input,
user names) that starts with `= + - @` or a control character gets a leading `'`.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any, Literal

from fastapi.responses import StreamingResponse

from ..api.audit_filters import AuditFilterDep
from ..api.deps import AuditRead, ServicesDep
from ..api.route import edge_router
from ..audit import AuditFilter, AuditLog
from ..audit.chain import HASHED_FIELDS
from ..audit.query import scan

router = edge_router("/api/v1", "audit")

COLUMNS = (*HASHED_FIELDS, "hash")  # a record as stored: re-verifiable from the file
_PAGE = 1000
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


_STREAMED: dict[int | str, dict[str, Any]] = {
    200: {
        "content": {
            "application/x-ndjson": {"schema": {"type": "string"}},
            "text/csv": {"schema": {"type": "string"}},
        }
    }
}


@router.get("/audit/export", response_class=StreamingResponse, responses=_STREAMED)
async def export(
    svc: ServicesDep,
    _: AuditRead,
    filters: AuditFilterDep,
    format: Literal["jsonl", "csv"] = "jsonl",
) -> StreamingResponse:
    # Read the first page before answering: a store that is down gives a clean 503.
    first = await _page(svc.audit, filters, 0)
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    media = "application/x-ndjson" if format == "jsonl" else "text/csv; charset=utf-8"
    encode = _jsonl if format == "jsonl" else _csv
    return StreamingResponse(
        _stream(svc.audit, filters, first, encode, header=format == "csv"),
        media_type=media,
        headers={
            "Content-Disposition": f'attachment; filename="nexflow-audit-{stamp}.{format}"',
            "Cache-Control": "no-store",
        },
    )


async def _page(log: AuditLog, filters: AuditFilter, after: int) -> list[dict[str, Any]]:
    """The next `_PAGE` matching events after seq `after`, oldest first."""
    return [r.to_dict() for r in await scan(log, filters, after_seq=after, limit=_PAGE)]


async def _stream(
    log: AuditLog,
    filters: AuditFilter,
    first: list[dict[str, Any]],
    encode: Any,
    *,
    header: bool,
) -> AsyncIterator[str]:
    if header:
        yield _csv_line(list(COLUMNS))
    page = first
    while page:
        yield "".join(encode(event) for event in page)
        if len(page) < _PAGE:
            return
        page = await _page(log, filters, page[-1]["seq"])


def _jsonl(event: dict[str, Any]) -> str:
    return json.dumps(event, ensure_ascii=False, separators=(",", ":")) + "\n"


def _csv(event: dict[str, Any]) -> str:
    cells = []
    for column in COLUMNS:
        value = event[column]
        if column == "reason_codes":
            value = ";".join(value)
        elif column == "payload":
            value = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        cells.append("" if value is None else _defuse(str(value)))
    return _csv_line(cells)


def _defuse(cell: str) -> str:
    return "'" + cell if cell.startswith(_FORMULA_START) else cell


def _csv_line(cells: list[str]) -> str:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(cells)
    return out.getvalue()
