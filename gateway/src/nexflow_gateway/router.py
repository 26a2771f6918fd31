"""The message router: `Event | Press` from any connector in, `Reply`s out.

- An `Event` from an identity linked to a user runs one turn of the LLM loop acting for
  that user (`ControlPlane.acting_for`: every call is that user's, from that chat). The
  reply carries approve/deny buttons for each call left pending, with nonces the control
  plane minted for that approval and that chat; each pending call is then followed
  (its status polled, bounded in time) and its result sent to the chat when it ends.
- An `Event` from an unknown identity gets a pairing code and nothing else: no model call,
  no skill call.
- A `Press` is relayed to the control plane, which decides it; the chat is told how.

Items of one chat and sender are handled in order; different ones run concurrently, at
most `max_concurrent` at a time.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

import structlog

from .chat_control import (
    CallStatus,
    approval_buttons,
    call_status,
    identity_of,
    pairing_code,
    relay,
)
from .connectors.base import MAX_BUTTONS, MAX_MESSAGE_CHARS, Button, Connector, Event, Press, Reply
from .control_plane import ControlPlane
from .errors import ControlPlaneRefused, GatewayError
from .llm import Agent
from .settings import LLMSettings
from .turns import PendingApproval, Turn

log = structlog.get_logger("nexflow_gateway.router")

Send = Callable[[Reply], Awaitable[None]]
MAX_REPLY = MAX_MESSAGE_CHARS * 4
MAX_CHATS = 1000
MAX_RESULT_CHARS = 3000

_PRESS_REFUSED = {
    "nonce_used": "This button was already used.",
    "nonce_invalid": "This button is not valid here (or has expired).",
    "policy_denied": "You may not decide this call.",
    "identity_not_linked": "You are not paired with a Nexflow user, so you cannot decide calls.",
    "approval_not_pending": "This call was already decided, or its approval expired.",
    "approval_not_found": "This approval does not exist.",
}


class Router:
    def __init__(
        self,
        llm: LLMSettings,
        control_plane: ControlPlane,
        *,
        poll_s: float = 1.0,
        follow_s: float = 3600.0,
        max_concurrent: int = 64,
    ) -> None:
        self._llm, self._cp = llm, control_plane
        self._poll_s, self._follow_s = poll_s, follow_s
        self._slots = asyncio.Semaphore(max_concurrent)
        self._chats: OrderedDict[str, tuple[asyncio.Lock, list[Turn]]] = OrderedDict()
        self._tasks: set[asyncio.Task[None]] = set()

    async def serve(self, connector: Connector) -> None:
        """Handle `connector`'s events until they end; then wait for what is in flight."""
        async for item in connector.events():
            await self._slots.acquire()
            self._spawn(self._guarded(item, connector.send), release=True)
        await self.drain()

    async def drain(self) -> None:
        """Wait for the items in flight (not for followers of pending calls)."""
        while busy := [t for t in self._tasks if not t.get_name().startswith("follow")]:
            await asyncio.wait(busy)

    async def aclose(self) -> None:
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def handle(self, item: Event | Press, send: Send) -> None:
        if isinstance(item, Press):
            await self._press(item, send)
        else:
            await self._event(item, send)

    # -- events --------------------------------------------------------------------------

    async def _event(self, event: Event, send: Send) -> None:
        identity = identity_of(event.channel, event.user_id)
        chat = f"{event.channel}:{event.chat_id}"
        cp_as = self._cp.acting_for(identity, chat)
        try:
            await cp_as.request("GET", "/api/v1/me")
        except ControlPlaneRefused as exc:
            if exc.code != "identity_not_linked":
                raise
            await self._pair(event, identity, chat, send)
            return
        if not self._llm.model:
            await send(_reply(event, "No model is configured for this gateway yet."))
            return
        lock, turns = self._chat(f"{identity}|{chat}")
        async with lock:
            history = [m for t in turns[-self._llm.history_turns :] for m in t.transcript]
            turn = await Agent(self._llm, cp_as).turn(history, event.message)
            turns.append(turn)
            del turns[: -self._llm.history_turns]
        buttons = await self._buttons(cp_as, turn.pending_approvals)
        await send(_reply(event, turn.reply or "(no answer)", buttons))
        log.info("router.turn", channel=event.channel, calls=len(turn.calls), stop=turn.stop_reason)
        for pending in turn.pending_approvals:
            self._spawn(self._follow(cp_as, event, pending, send), name="follow")

    async def _pair(self, event: Event, identity: str, chat: str, send: Send) -> None:
        code = await pairing_code(self._cp, identity, chat)
        text = (
            f"I don't know you yet. Your pairing code is {code.code} (valid until "
            f"{code.expires_at}). Ask a Nexflow admin to confirm it: "
            f"nexflow pairing confirm {code.code} --user <name>"
        )
        await send(_reply(event, text))
        log.info("router.pairing_code", channel=event.channel)

    async def _buttons(self, cp_as: ControlPlane, pending: list[PendingApproval]) -> list[Button]:
        buttons: list[Button] = []
        for p in pending[: MAX_BUTTONS // 2]:
            try:
                buttons.extend(await approval_buttons(cp_as, p.approval_id))
            except GatewayError as exc:
                log.warning("router.no_buttons", approval_id=p.approval_id, error=exc.code)
        return buttons

    async def _follow(
        self, cp_as: ControlPlane, event: Event, pending: PendingApproval, send: Send
    ) -> None:
        """Poll the pending call until it ends (at most `follow_s`); tell the chat."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self._follow_s
        while loop.time() < deadline:
            await asyncio.sleep(self._poll_s)
            try:
                status = await call_status(cp_as, pending.call_id)
            except GatewayError as exc:
                log.warning("router.follow_failed", call_id=pending.call_id, error=exc.code)
                continue
            if not status.waiting:
                await send(_reply(event, _finished(pending, status)))
                return

    # -- presses -------------------------------------------------------------------------

    async def _press(self, press: Press, send: Send) -> None:
        try:
            decided = await relay(self._cp, press)
            verb = "approved" if press.decision == "approve" else "denied"
            text = f"{decided.call_id} {verb} by {decided.decided_by}."
        except ControlPlaneRefused as exc:
            text = _PRESS_REFUSED.get(exc.code, f"The press was refused ({exc.code}).")
        log.info("router.press", channel=press.channel, decision=press.decision)
        await send(Reply(chat_id=press.chat_id, text=text))

    # -- plumbing ------------------------------------------------------------------------

    def _chat(self, key: str) -> tuple[asyncio.Lock, list[Turn]]:
        if key in self._chats:
            self._chats.move_to_end(key)
        else:
            self._chats[key] = (asyncio.Lock(), [])
            while len(self._chats) > MAX_CHATS:
                self._chats.popitem(last=False)
        return self._chats[key]

    def _spawn(self, work: Awaitable[None], *, name: str = "item", release: bool = False) -> None:
        async def run() -> None:
            try:
                await work
            finally:
                if release:
                    self._slots.release()

        task = asyncio.create_task(run(), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _guarded(self, item: Event | Press, send: Send) -> None:
        """`handle`, with any failure logged and told to the chat in one plain sentence."""
        try:
            await self.handle(item, send)
        except GatewayError as exc:
            log.warning("router.failed", error=exc.code)
            with contextlib.suppress(Exception):
                await send(Reply(chat_id=item.chat_id, text=f"Sorry, that failed ({exc.code})."))
        except Exception as exc:
            log.error("router.crashed", error=type(exc).__name__)


def _reply(event: Event, text: str, buttons: list[Button] | None = None) -> Reply:
    text = text if len(text) <= MAX_REPLY else text[: MAX_REPLY - 1] + "…"
    return Reply(chat_id=event.chat_id, text=text, buttons=tuple(buttons or ()), reply_to=event.id)


def _finished(pending: PendingApproval, status: CallStatus) -> str:
    head = f"{pending.skill} ({pending.call_id}) {status.status}"
    result: dict[str, Any] = status.result or {}
    if status.status in ("denied", "expired", "refused", "error"):
        return head + (f": {status.error}" if status.error else ".")
    output = result.get("output")
    text = output if isinstance(output, str) else json.dumps(output, ensure_ascii=False)
    if len(text) > MAX_RESULT_CHARS:
        text = text[:MAX_RESULT_CHARS] + "…"
    return f"{head}:\n{text}"
