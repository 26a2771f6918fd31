"""The configured connectors as background tasks, every item handed to one consumer.

`ConnectorSet.from_settings` builds a connector for each channel with a token;
`start(on_item)` starts them side by side (one that fails logs one line, `connector.failed`,
and the others run on) and pumps each one's `events()` into `on_item(connector, item)`,
awaited in arrival order per connector (the consumer hands long work off itself). An
exception in the consumer is logged and the pump goes on with the next item.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import structlog
from starlette.routing import Route

from ..settings import Settings
from .base import Channel, Connector, ConnectorError, Event, Press

log = structlog.get_logger("nexflow_gateway.connectors")

OnItem = Callable[[Connector, Event | Press], Awaitable[None]]
TELEGRAM_WEBHOOK_PATH = "/telegram/webhook"


class ConnectorSet:
    """The running connectors by channel."""

    def __init__(self, connectors: list[Connector]) -> None:
        self.configured = connectors
        self.running: dict[Channel, Connector] = {}
        self._pumps: list[asyncio.Task[None]] = []

    @classmethod
    def from_settings(cls, settings: Settings) -> ConnectorSet:
        connectors: list[Connector] = []
        if settings.telegram.token is not None:
            from .telegram import TelegramConnector

            connectors.append(TelegramConnector(settings.telegram))
        if settings.discord.token is not None:
            from .discord import DiscordConnector

            connectors.append(DiscordConnector(settings.discord))
        return cls(connectors)

    def webhook_routes(self) -> list[Route]:
        """HTTP routes the connectors answer on the gateway's own address."""
        from .telegram import TelegramConnector

        return [
            Route(TELEGRAM_WEBHOOK_PATH, c.webhook, methods=["POST"])
            for c in self.configured
            if isinstance(c, TelegramConnector) and c.mode == "webhook"
        ]

    def get(self, channel: Channel) -> Connector | None:
        """The running connector for `channel` (to send a reply or retire buttons)."""
        return self.running.get(channel)

    async def start(self, on_item: OnItem) -> None:
        """Start every configured connector at once; returns when each started or failed."""
        results = await asyncio.gather(
            *(c.start() for c in self.configured), return_exceptions=True
        )
        for connector, result in zip(self.configured, results, strict=True):
            if isinstance(result, BaseException):
                reason = result.message if isinstance(result, ConnectorError) else repr(result)
                log.error("connector.failed", channel=connector.channel, error=reason)
                continue
            self.running[connector.channel] = connector
            pump = asyncio.create_task(_pump(connector, on_item), name=f"{connector.channel}-pump")
            self._pumps.append(pump)

    async def stop(self) -> None:
        for connector in self.running.values():
            with contextlib.suppress(Exception):
                await connector.stop()
        for pump in self._pumps:  # each ends once its connector's events() is drained
            with contextlib.suppress(asyncio.CancelledError, TimeoutError):
                await asyncio.wait_for(pump, 5.0)
        self.running.clear()


async def _pump(connector: Connector, on_item: OnItem) -> None:
    async for item in connector.events():
        try:
            await on_item(connector, item)
        except Exception as exc:  # one bad turn must not stop the channel
            log.error("connector.consumer_failed", channel=connector.channel, error=repr(exc))


async def run_connectors(settings: Settings, on_item: OnItem) -> None:
    """Run the configured connectors until cancelled, then stop them."""
    connectors = ConnectorSet.from_settings(settings)
    try:
        await connectors.start(on_item)
        await asyncio.Event().wait()
    finally:
        await connectors.stop()
