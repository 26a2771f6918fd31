"""The message router: `Event | Press` from any connector in, `Reply`s out.

- An `Event` from an identity linked to a user runs one turn acting for that user
  (`ControlPlane.acting_for`: every call is that user's, from that chat): a command
  (`/skills`, `/run`, ...; any message when no model is configured) answered by the
  gateway itself (`commands`), any other message by the LLM loop, in that user's session
  of that chat, stored like a web chat turn (`stored_turn`). The reply carries
  approve/deny buttons for each call left pending, with nonces the control plane minted
  for that approval and that chat; each pending call is then followed (its status
  polled, bounded in time) and its buttons taken off when it is decided.
  How it ended (its result, or that it was denied or expired) reaches the chat through
  the control plane's outbox (`deliveries`), which survives a gateway restart.
- An `Event` from an unknown identity gets a pairing code and nothing else: no model call,
  no skill call.
- A `Press` is relayed to the control plane, which decides it; the chat is told how and
  the approval's buttons are taken off (`Connector.retire`).

Items of one chat are handled in order (`Lanes`; presses in a lane of their own), different
chats concurrently, at most `max_concurrent` items at a time; a connector's pump never
waits for a turn.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable

import structlog

from .chat_control import (
    approval_buttons,
    call_status,
    identity_of,
    pairing_code,
    relay,
)
from .connectors.base import MAX_BUTTONS, MAX_MESSAGE_CHARS, Button, Connector, Event, Press, Reply
from .control_plane import ControlPlane
from .conversation import chat_session_id, stored_turn
from .errors import ControlPlaneRefused, GatewayError
from .lanes import Lanes
from .llm import Agent
from .settings import Settings
from .store import Owner, SessionStore
from .turns import PendingApproval

log = structlog.get_logger("nexflow_gateway.router")

MAX_REPLY = MAX_MESSAGE_CHARS * 4

_BUSY = "Too many messages are waiting in this chat; please try again in a moment."
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
        settings: Settings,
        control_plane: ControlPlane,
        sessions: SessionStore,
        *,
        poll_s: float = 1.0,
        follow_s: float = 3600.0,
        max_concurrent: int = 64,
        max_waiting: int = 32,
    ) -> None:
        self._settings, self._cp, self._sessions = settings, control_plane, sessions
        self._poll_s, self._follow_s = poll_s, follow_s
        self._lanes: Lanes[tuple[Connector, Event | Press]] = Lanes(
            self._guarded, max_concurrent=max_concurrent, max_waiting=max_waiting
        )
        self._tasks: set[asyncio.Task[None]] = set()

    async def on_item(self, connector: Connector, item: Event | Press) -> None:
        """The connectors' consumer (`ConnectorSet.start`): hands the item to its chat's
        lane and returns at once, so a slow turn never holds up the channel."""
        self.submit(connector, item)

    def submit(self, connector: Connector, item: Event | Press) -> None:
        # Presses have their own lane per chat: a long turn must not delay a decision.
        kind = "press" if isinstance(item, Press) else "event"
        log.debug("connector.item", channel=item.channel, kind=kind, id=item.id)
        key = f"{kind}|{item.channel}:{item.chat_id}"
        if not self._lanes.submit(key, (connector, item)):
            log.warning("router.dropped", channel=item.channel, reason="lane_full")
            busy = Reply(chat_id=item.chat_id, text=_BUSY)
            self._spawn(_quietly(connector.send(busy)), name="busy")

    async def serve(self, connector: Connector) -> None:
        """Handle `connector`'s events until they end; then wait for what is in flight."""
        async for item in connector.events():
            self.submit(connector, item)
        await self.drain()

    async def drain(self) -> None:
        """Wait for the items in flight (not for followers of pending calls)."""
        await self._lanes.drain()
        while busy := [t for t in self._tasks if not t.get_name().startswith("follow")]:
            await asyncio.wait(busy)

    async def aclose(self) -> None:
        await self._lanes.aclose()
        for task in list(self._tasks):
            task.cancel()
        for task in list(self._tasks):
            with contextlib.suppress(asyncio.CancelledError):
                await task

    async def handle(self, item: Event | Press, connector: Connector) -> None:
        if isinstance(item, Press):
            await self._press(item, connector)
        else:
            await self._event(item, connector)

    # -- events --------------------------------------------------------------------------

    async def _event(self, event: Event, connector: Connector) -> None:
        identity = identity_of(event.channel, event.user_id)
        chat = f"{event.channel}:{event.chat_id}"
        cp_as = self._cp.acting_for(identity, chat)
        try:
            me = await cp_as.request("GET", "/api/v1/me")
        except ControlPlaneRefused as exc:
            if exc.code != "identity_not_linked":
                raise
            await self._pair(event, identity, chat, connector)
            return
        user_id = str(me.get("id", ""))[:255]
        turn, _ = await stored_turn(
            self._settings,
            self._sessions,
            Agent(self._settings.llm, cp_as),
            chat_session_id(event.channel, event.chat_id, user_id),
            Owner(user_id=user_id, channel=event.channel, chat_id=event.chat_id),
            event.message,
            commands=cp_as,
        )
        buttons = await self._buttons(cp_as, turn.pending_approvals)
        await connector.send(_reply(event, turn.reply or "(no answer)", buttons))
        log.info("router.turn", channel=event.channel, calls=len(turn.calls), stop=turn.stop_reason)
        for pending in turn.pending_approvals:
            self._spawn(self._follow(cp_as, pending, connector), name="follow")

    async def _pair(self, event: Event, identity: str, chat: str, connector: Connector) -> None:
        code = await pairing_code(self._cp, identity, chat)
        text = (
            f"I don't know you yet. Your pairing code is {code.code} (valid until "
            f"{code.expires_at}). Ask a Nexflow admin to confirm it: "
            f"nexflow pairing confirm {code.code} --user <name>"
        )
        await connector.send(_reply(event, text))
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
        self, cp_as: ControlPlane, pending: PendingApproval, connector: Connector
    ) -> None:
        """Poll the pending call until it ends (at most `follow_s`) and take its buttons
        off, however it was decided (how it ended is owed through the outbox)."""
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
                await _quietly(connector.retire(pending.approval_id))
                return

    # -- presses -------------------------------------------------------------------------

    async def _press(self, press: Press, connector: Connector) -> None:
        try:
            decided = await relay(self._cp, press)
            verb = "approved" if press.decision == "approve" else "denied"
            text = f"{decided.call_id} {verb} by {decided.decided_by}."
            await _quietly(connector.retire(press.approval_id))
        except ControlPlaneRefused as exc:
            text = _PRESS_REFUSED.get(exc.code, f"The press was refused ({exc.code}).")
        log.info("router.press", channel=press.channel, decision=press.decision)
        await connector.send(Reply(chat_id=press.chat_id, text=text))

    # -- plumbing ------------------------------------------------------------------------

    def _spawn(self, work: Awaitable[None], *, name: str) -> None:
        task = asyncio.create_task(_run(work), name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _guarded(self, entry: tuple[Connector, Event | Press]) -> None:
        """`handle`, with any failure logged and told to the chat in one plain sentence."""
        connector, item = entry
        try:
            await self.handle(item, connector)
        except GatewayError as exc:
            log.warning("router.failed", error=exc.code)
            failed = Reply(chat_id=item.chat_id, text=f"Sorry, that failed ({exc.code}).")
            await _quietly(connector.send(failed))
        except Exception as exc:
            log.error("router.crashed", error=type(exc).__name__)


async def _run(work: Awaitable[None]) -> None:
    await work


async def _quietly(work: Awaitable[None]) -> None:
    """Best effort (a reply about a failure, taking buttons off): a failure is logged."""
    try:
        await work
    except Exception as exc:
        log.warning("router.best_effort_failed", error=type(exc).__name__)


def _reply(event: Event, text: str, buttons: list[Button] | None = None) -> Reply:
    text = text if len(text) <= MAX_REPLY else text[: MAX_REPLY - 1] + "…"
    return Reply(chat_id=event.chat_id, text=text, buttons=tuple(buttons or ()), reply_to=event.id)
