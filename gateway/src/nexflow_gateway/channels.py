"""The chat channels wired to the router: each configured connector's items go to one
`Router` that shares the web chat's control-plane client and session store; results owed
to chats (`Deliveries`) are sent through the same connectors."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from .connectors import ConnectorSet
from .control_plane import ControlPlane
from .deliveries import Deliveries
from .router import Router
from .settings import Settings
from .store import SessionStore


@asynccontextmanager
async def chat_channels(
    settings: Settings,
    control_plane: ControlPlane,
    sessions: SessionStore,
    connectors: ConnectorSet,
) -> AsyncIterator[Router]:
    """Start the connectors (in the background: a slow channel does not hold up the
    server's start) feeding a router; on exit stop them, then the router's work."""
    router = Router(settings, control_plane, sessions)
    starting = asyncio.create_task(connectors.start(router.on_item), name="connectors-start")
    deliveries = Deliveries(control_plane, connectors.get, poll_s=settings.gateway.outbox_poll_s)
    delivering = asyncio.create_task(deliveries.run(), name="deliveries")
    try:
        yield router
    finally:
        for task in (delivering, starting):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await connectors.stop()
        await router.aclose()
