"""The attach connection is closed on every way out of `DockerEngine.attach` but success,
cancellation included (a pool closing cancels its set-ups mid-attach): an engine that
never answers sees the connection end when the attach is cancelled."""

from __future__ import annotations

import asyncio
import contextlib
import tempfile
from pathlib import Path

from nexflow_executor.sandbox.docker_engine import DockerEngine


async def test_a_cancelled_attach_closes_its_connection() -> None:
    accepted: asyncio.Future[asyncio.StreamReader] = asyncio.get_running_loop().create_future()
    writers: list[asyncio.StreamWriter] = []

    async def silent(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writers.append(writer)
        accepted.set_result(reader)  # read the request, never answer

    with tempfile.TemporaryDirectory(prefix="nx-") as tmp:
        sock = Path(tmp) / "engine.sock"
        server = await asyncio.start_unix_server(silent, path=str(sock))
        try:
            engine = DockerEngine(f"unix://{sock}", timeout_s=5)
            attaching = asyncio.create_task(engine.attach("0123abcd"))
            reader = await asyncio.wait_for(accepted, 5)
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            assert b"/attach?" in head
            attaching.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await attaching
            # The client's side is closed: the engine reads end of stream at once.
            assert await asyncio.wait_for(reader.read(), 5) == b""
        finally:
            for w in writers:
                w.close()
            server.close()
            await server.wait_closed()
