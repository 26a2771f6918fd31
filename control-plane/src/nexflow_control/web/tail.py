"""`ws /ws/logs`: the live tail of the audit log.

One `LogTail` per app polls the database for events after the last seq it saw (every
`interval_s`, only while someone listens) and hands each new batch to every listener
whose filters it matches. Polling the database, not a hook inside this process, means
the tail shows what other control planes sharing the database write too.

Connect with the viewer's filters as query parameters, plus `after=<seq>` to first
replay what came after that seq (at most 1000 events). Messages are JSON:
`{"type": "events", "events": [...]}` (oldest first), and on a broken store
`{"type": "error", "error": "audit_unavailable", ...}` (the tail keeps trying).

Authentication: a bearer token in the `Authorization` header, or the browser session
cookie; with a cookie the handshake's `Origin` must be this host (no other site may
open a socket with a visitor's session). Either needs scope `audit:read`.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog
from fastapi import APIRouter, WebSocket, WebSocketDisconnect

from ..accounts import Scope
from ..api.audit_filters import audit_filter
from ..api.params import TEXT_MAX
from ..api.strict_json import INT_MAX
from ..audit import AuditFilter, AuditLog, AuditRecord, tail
from ..auth import SESSION_COOKIE, Principal, require_scope, same_origin, session_principal
from ..errors import AuditUnavailable, CsrfFailed, InvalidInput, NexflowError

log = structlog.get_logger("nexflow.web")
router = APIRouter(tags=["audit"])

_QUEUE_MAX = 64  # batches a slow listener may lag behind before it is dropped
_REPLAY_MAX = 1000


def matches(record: AuditRecord, f: AuditFilter) -> bool:
    """`query`'s filters, applied to one record in memory."""
    for value, wanted in (
        (record.actor, f.actor),
        (record.skill, f.skill),
        (record.decision, f.decision),
        (record.call_id, f.call_id),
    ):
        if wanted is not None and value != wanted:
            return False
    if f.action is not None and f.action != "*":
        if f.action.endswith("*"):
            if not record.action.startswith(f.action[:-1]):
                return False
        elif record.action != f.action:
            return False
    if f.reason_code is not None and f.reason_code not in record.reason_codes:
        return False
    since = _aware(f.since)
    until = _aware(f.until)
    if since is not None and record.ts < since:
        return False
    return not (until is not None and record.ts >= until)


def _aware(ts: datetime | None) -> datetime | None:
    return None if ts is None else ts if ts.tzinfo else ts.replace(tzinfo=UTC)


def _filters_from(params: Mapping[str, str]) -> AuditFilter:
    """The viewer's filters from the socket's query string; `ValueError` if malformed."""

    def when(key: str) -> datetime | None:
        value = text(key)
        return datetime.fromisoformat(value) if value else None

    def text(key: str) -> str | None:
        value = params.get(key)
        if value is not None and (len(value) > TEXT_MAX or "\x00" in value):
            raise ValueError(f"{key} is too long or holds NUL")
        return value

    try:
        return audit_filter(
            actor=text("actor"),
            skill=text("skill"),
            action=text("action"),
            decision=text("decision"),
            reason_code=text("reason_code"),
            call_id=text("call_id"),
            since=when("since"),
            until=when("until"),
        )
    except InvalidInput as exc:
        raise ValueError(exc.message) from None


def _after(params: Mapping[str, str]) -> int | None:
    """`after=<seq>`: a seq the database can hold; `ValueError` otherwise."""
    value = params.get("after")
    if not value:
        return None
    seq = int(value)
    if not 0 <= seq <= INT_MAX:
        raise ValueError("after is out of range")
    return seq


@dataclass(eq=False)
class _Listener:
    filters: AuditFilter
    queue: asyncio.Queue[dict[str, Any] | None] = field(
        default_factory=lambda: asyncio.Queue(_QUEUE_MAX)
    )


class LogTail:
    """Polls the log for new events while anyone listens; fans them out."""

    def __init__(self, audit: AuditLog, *, interval_s: float = 0.25) -> None:
        self._audit, self._interval = audit, interval_s
        self._listeners: set[_Listener] = set()
        self._task: asyncio.Task[None] | None = None
        self._last_seq = 0

    async def listen(self, filters: AuditFilter) -> _Listener:
        listener = _Listener(filters)
        if self._task is None or self._task.done():
            head = self._audit.head
            if head is None:
                latest = await tail(self._audit, 0, 1)  # empty log, or head not yet known
                head = (latest[-1].seq, "") if latest else (0, "")
            self._last_seq = max(self._last_seq, head[0])
            self._task = asyncio.create_task(self._run(), name="log-tail")
        self._listeners.add(listener)
        return listener

    def leave(self, listener: _Listener) -> None:
        self._listeners.discard(listener)

    @property
    def position(self) -> int:
        """The seq up to which listeners have been served."""
        return self._last_seq

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        for listener in list(self._listeners):
            self._drop(listener)

    async def _run(self) -> None:
        failing = False
        while self._listeners:
            try:
                batch = await tail(self._audit, self._last_seq, 1000)
                failing = False
            except AuditUnavailable as exc:
                if not failing:
                    self._broadcast_error(exc)
                failing = True
                batch = []
            if batch:
                self._last_seq = batch[-1].seq
                self._broadcast(batch)
            if len(batch) < 1000:
                await asyncio.sleep(self._interval)

    def _broadcast(self, batch: list[AuditRecord]) -> None:
        for listener in list(self._listeners):
            events = [r.to_dict() for r in batch if matches(r, listener.filters)]
            if events:
                self._offer(listener, {"type": "events", "events": events})

    def _broadcast_error(self, exc: NexflowError) -> None:
        for listener in list(self._listeners):
            self._offer(listener, {"type": "error", **exc.body()})

    def _offer(self, listener: _Listener, message: dict[str, Any]) -> None:
        try:
            listener.queue.put_nowait(message)
        except asyncio.QueueFull:
            log.warning("tail.listener_dropped", why="too slow")
            self._drop(listener)

    def _drop(self, listener: _Listener) -> None:
        self._listeners.discard(listener)
        with contextlib.suppress(asyncio.QueueFull):
            listener.queue.put_nowait(None)


async def _authenticate(ws: WebSocket) -> Principal:
    svc = ws.app.state.services
    authorization = ws.headers.get("authorization")
    cookie = ws.cookies.get(SESSION_COOKIE)
    if authorization is None and cookie:
        origin = ws.headers.get("origin")
        if origin is None or not same_origin(origin, ws.headers.get("host")):
            raise CsrfFailed("a session's socket must come from this host's pages")
        who = await session_principal(svc.sessions, cookie, method="GET", headers=ws.headers)
    else:
        who = await svc.auth.authenticate(authorization)
    return who


@router.websocket("/ws/logs")
async def logs(ws: WebSocket) -> None:
    who: Principal | None = None
    try:
        who = await _authenticate(ws)
        require_scope(who, Scope.AUDIT_READ)
        params = ws.query_params
        filters = _filters_from(params)
        after = _after(params)
    except NexflowError as exc:
        refused = "auth.scope_refused" if exc.code == "insufficient_scope" else "auth.failed"
        await ws.app.state.services.refusals.record(
            refused,
            exc,
            client=ws.client.host if ws.client else "unknown",
            method="WEBSOCKET",
            path=ws.url.path,
            authorization=ws.headers.get("authorization"),
            actor=who.id if who is not None else None,
        )
        await ws.close(code=4401 if exc.status == 401 else 4403, reason=exc.code)
        return
    except ValueError:
        await ws.close(code=4422, reason="invalid_request")
        return
    await ws.accept()
    svc = ws.app.state.services
    hub: LogTail = svc.tail
    listener = await hub.listen(filters)
    served = hub.position  # read with no await since listen(): the queue has all after it
    try:
        if after is not None and after < served:
            replay = [
                r.to_dict()
                for r in await tail(svc.audit, after, _REPLAY_MAX)
                if r.seq <= served and matches(r, filters)
            ]
            if replay:
                await ws.send_json({"type": "events", "events": replay})
        receiver = asyncio.create_task(_drain(ws))
        try:
            while True:
                getter = asyncio.create_task(listener.queue.get())
                done, _ = await asyncio.wait(
                    {getter, receiver}, return_when=asyncio.FIRST_COMPLETED
                )
                if receiver in done:
                    getter.cancel()
                    return
                message = getter.result()
                if message is None:
                    await ws.close(code=1013, reason="too slow")
                    return
                await ws.send_json(message)
        finally:
            receiver.cancel()
    except (WebSocketDisconnect, RuntimeError):
        return
    except AuditUnavailable as exc:
        with contextlib.suppress(RuntimeError):
            await ws.send_json({"type": "error", **exc.body()})
            await ws.close(code=1011)
    finally:
        hub.leave(listener)


async def _drain(ws: WebSocket) -> None:
    """Read (and ignore) what the client sends, to notice when it goes away."""
    with contextlib.suppress(WebSocketDisconnect, RuntimeError):
        while True:
            await ws.receive_text()
