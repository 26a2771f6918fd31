"""Forwards a sandbox's stdout/stderr in chunks of at most 64 KiB, under one byte cap.

`OutputGate` counts stdout plus stderr together; the chunk that crosses the cap is
cut at the cap, everything after it is read and dropped (so the writer never blocks
on a full pipe), and `capped` is set so the supervisor kills the sandbox.
`LoaderNoiseFilter` drops the dynamic loader's "no version information available"
lines that glibc prints for the nsjail binary itself before the jail exists: they
arrive first on the shared stderr pipe and are not the skill's output.
"""

from __future__ import annotations

import asyncio

from nexflow_executor.sandbox.base import OnOutput, Stream

__all__ = ["CHUNK_BYTES", "LoaderNoiseFilter", "OutputGate", "pump"]

CHUNK_BYTES = 64 * 1024
_NOISE = b"no version information available"
_MAX_PENDING = 8192


class OutputGate:
    """The shared output budget of one call."""

    def __init__(self, cap: int, on_output: OnOutput) -> None:
        self.cap = cap
        self.sent = {Stream.STDOUT: 0, Stream.STDERR: 0}
        self.truncated = False
        self.capped = asyncio.Event()
        self._on_output = on_output

    async def offer(self, stream: Stream, data: bytes) -> None:
        """Forward what fits under the cap; on overflow drop the rest and set `capped`."""
        if not data:
            return
        room = self.cap - self.sent[Stream.STDOUT] - self.sent[Stream.STDERR]
        if len(data) > room:
            data = data[: max(room, 0)]
            self.truncated = True
            self.capped.set()
        for start in range(0, len(data), CHUNK_BYTES):
            piece = data[start : start + CHUNK_BYTES]
            self.sent[stream] += len(piece)
            await self._on_output(stream, piece)


class LoaderNoiseFilter:
    """Drops leading `<nsjail path>: ... no version information available ...` lines."""

    def __init__(self, program: str) -> None:
        self._prefix = program.encode() + b": "
        self._pending = b""
        self._active = True

    def feed(self, data: bytes) -> bytes:
        if not self._active:
            return data
        buf = self._pending + data
        while buf.startswith(self._prefix):
            end = buf.find(b"\n")
            if end < 0:
                if len(buf) > _MAX_PENDING:
                    break
                self._pending = buf
                return b""
            if _NOISE not in buf[:end]:
                break
            buf = buf[end + 1 :]
        if buf and self._prefix.startswith(buf):
            self._pending = buf
            return b""
        if buf:
            self._active = False
        self._pending = b""
        return buf

    def flush(self) -> bytes:
        rest, self._pending, self._active = self._pending, b"", False
        return rest


async def pump(
    reader: asyncio.StreamReader,
    stream: Stream,
    gate: OutputGate,
    noise: LoaderNoiseFilter | None = None,
) -> None:
    """Read `reader` to EOF, forwarding each chunk through `gate`."""
    while True:
        chunk = await reader.read(CHUNK_BYTES)
        if not chunk:
            break
        if noise is not None:
            chunk = noise.feed(chunk)
        if gate.truncated:
            continue  # keep draining so the sandbox never blocks on a full pipe
        await gate.offer(stream, chunk)
    if noise is not None and not gate.truncated:
        await gate.offer(stream, noise.flush())
