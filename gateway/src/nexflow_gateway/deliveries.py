"""Results owed to chats, fetched from the control plane's outbox and sent.

The control plane keeps one outbox row per finished call whose result a chat is owed (a
call made from that chat, also one that waited for an approval across a gateway restart,
or a schedule's run whose destination is a chat). Every `poll_s` this loop reads the
undelivered rows of each running connector's channel, sends each as a plain-text `Reply`
and then acks it: at least once (a crash between send and ack sends it again). While
the control plane cannot be reached it waits longer each time (doubling, at most
`MAX_BACKOFF_S`). A row its connector cannot send stays for the next round.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import get_args

import structlog
from pydantic import BaseModel, ConfigDict, ValidationError

from .connectors.base import Channel, Connector, Reply
from .control_plane import ControlPlane
from .errors import ControlPlaneUnavailable, GatewayError

log = structlog.get_logger("nexflow_gateway.deliveries")

MAX_BACKOFF_S = 60.0
BATCH = 20
CHAT_CHANNELS: tuple[Channel, ...] = tuple(c for c in get_args(Channel) if c != "web")


class Delivery(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    id: int
    call_id: str
    chat: str
    text: str


class Deliveries:
    def __init__(
        self,
        control_plane: ControlPlane,
        connector_for: Callable[[Channel], Connector | None],
        *,
        poll_s: float,
    ) -> None:
        self._cp, self._connector_for, self._poll_s = control_plane, connector_for, poll_s

    async def run(self) -> None:
        """Deliver until cancelled."""
        wait = self._poll_s
        while True:
            try:
                for channel in CHAT_CHANNELS:
                    await self.deliver(channel)
                wait = self._poll_s
            except ControlPlaneUnavailable as exc:
                wait = min(max(wait, self._poll_s) * 2, MAX_BACKOFF_S)
                log.warning("deliveries.control_plane_down", error=exc.code, retry_s=wait)
            except GatewayError as exc:
                log.warning("deliveries.failed", error=exc.code)
            await asyncio.sleep(wait)

    async def deliver(self, channel: Channel) -> int:
        """Send what `channel`'s chats are owed (one batch); how many were sent and acked."""
        connector = self._connector_for(channel)
        if connector is None:
            return 0
        answer = await self._cp.request("GET", f"/api/v1/outbox?channel={channel}&limit={BATCH}")
        sent = 0
        for raw in answer.get("deliveries", []):
            try:
                item = Delivery.model_validate(raw)
                reply = Reply(chat_id=item.chat, text=item.text)
            except ValidationError:
                log.warning("deliveries.malformed", channel=channel)
                continue
            try:
                await connector.send(reply)
            except Exception as exc:  # this chat cannot be reached now: try next round
                log.warning(
                    "deliveries.send_failed", call_id=item.call_id, error=type(exc).__name__
                )
                continue
            await self._cp.request("POST", f"/api/v1/outbox/{item.id}/ack")
            log.info("deliveries.sent", channel=channel, call_id=item.call_id)
            sent += 1
        return sent
