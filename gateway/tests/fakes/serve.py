"""Running an aiohttp application on a real socket (127.0.0.1, a free port) in the test's
event loop, for the fake chat servers."""

from __future__ import annotations

import socket

from aiohttp import web


class Served:
    """An aiohttp app listening on 127.0.0.1; `url` is its base address."""

    def __init__(self, app: web.Application) -> None:
        self._runner = web.AppRunner(app)
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self.port: int = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"

    async def start(self) -> None:
        await self._runner.setup()
        await web.SockSite(self._runner, self._sock).start()

    async def stop(self) -> None:
        await self._runner.cleanup()
