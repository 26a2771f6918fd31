"""The Docker engine, as the Docker backend uses it: the `docker` SDK plus one raw stream.

Lifecycle calls (create, start, kill, remove, inspect, list) go through the SDK's
low-level `APIClient`, run in a worker thread so the event loop never blocks. The one
thing done by hand is the *hijacked* stream of `POST /containers/{id}/attach`: the SDK
reads the HTTP response headers through a buffered reader and then hands back the raw
socket, so bytes the engine sent right behind the headers can be left in that buffer
and lost, and it is blocking. Here the upgrade is spoken over an asyncio connection
whose reader keeps every byte, stdin is half-closed with `write_eof()` (with
`StdinOnce` the engine then closes the container's stdin), and the multiplexed frames
are demultiplexed as they come.

Resolving an image reference to its ID is asked for on every call; the answers are
kept, but only while a watch on the engine's image events (`GET /events`, type image)
is connected: any image event (tag, untag, delete, pull, load, import...) drops them all,
and while the watch is down nothing is kept, so a re-tagged reference is never served
from a stale entry. An answer that raced with an event is not kept either.

Every SDK or socket error is translated at this boundary into the executor's tree:
`BackendUnavailable` when the engine does not answer, `PreconditionFailed` for a missing
image, `SandboxError` for anything else.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import struct
import urllib.parse
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import docker
import docker.errors
import requests.exceptions
from docker.constants import DEFAULT_DOCKER_API_VERSION, MINIMUM_DOCKER_API_VERSION
from docker.utils import version_lt

from nexflow_executor.errors import BackendUnavailable, PreconditionFailed, SandboxError
from nexflow_executor.sandbox.base import Stream

__all__ = ["AttachStream", "DockerEngine", "ImageInfo"]

T = TypeVar("T")
_FRAME = struct.Struct(">BxxxI")
_STREAMS = {1: Stream.STDOUT, 2: Stream.STDERR}
_HEADER_LIMIT = 64 * 1024
_REWATCH_S = 1.0  # after the image event stream broke, before it is opened again


@dataclass(frozen=True, slots=True)
class ImageInfo:
    """A resolved image: its ID and the labels it carries."""

    id: str
    labels: dict[str, str]


class AttachStream:
    """The hijacked attach connection of one container: write stdin, read demuxed frames."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._reader = reader
        self._writer = writer

    async def send_stdin(self, data: bytes) -> None:
        """Write `data`, then half-close so the process sees end of input."""
        try:
            if data:
                self._writer.write(data)
                await self._writer.drain()
            if self._writer.can_write_eof():
                self._writer.write_eof()
        except (ConnectionError, OSError):
            pass  # the process exited (or was killed) before reading all of its input

    async def frames(self) -> AsyncIterator[tuple[Stream, bytes]]:
        """(stream, payload) pairs until the engine closes the stream."""
        while True:
            try:
                header = await self._reader.readexactly(_FRAME.size)
                kind, size = _FRAME.unpack(header)
                payload = await self._reader.readexactly(size) if size else b""
            except (asyncio.IncompleteReadError, ConnectionError, OSError):
                return
            stream = _STREAMS.get(kind)
            if stream is not None and payload:
                yield stream, payload

    def close(self) -> None:
        self._writer.close()


class DockerEngine:
    """An async face over one Docker engine."""

    def __init__(self, url: str, timeout_s: float) -> None:
        self.url = url
        self._timeout_s = timeout_s
        self._api: docker.APIClient | None = None
        self._socket_path = _unix_path(url)
        self._version = ""
        self._images: dict[str, ImageInfo] = {}
        self._image_events = 0  # bumped by every image event (and by the watch going down)
        self._watching = False  # the image event stream is connected: answers may be kept
        self._watch: asyncio.Task[None] | None = None

    def connect(self) -> str:
        """Connect and negotiate the API version; return the engine's version string."""
        # Not version="auto": when the engine is down, the SDK's constructor raises with
        # its session (and socket) still open. Probe with a client we can close instead.
        probe = docker.APIClient(
            base_url=self.url, version=MINIMUM_DOCKER_API_VERSION, timeout=self._timeout_s
        )
        try:
            info = probe.version(api_version=False)
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            raise BackendUnavailable(f"Docker engine at {self.url} does not answer: {exc}") from exc
        finally:
            probe.close()
        server = str(info.get("ApiVersion", MINIMUM_DOCKER_API_VERSION))
        version = (
            server if version_lt(server, DEFAULT_DOCKER_API_VERSION) else DEFAULT_DOCKER_API_VERSION
        )
        self._api = docker.APIClient(base_url=self.url, version=version, timeout=self._timeout_s)
        self._version = str(self._api.api_version)
        return str(info.get("Version", "?"))

    @property
    def api(self) -> docker.APIClient:
        if self._api is None:
            raise BackendUnavailable("Docker engine not connected")
        return self._api

    async def call(self, fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run one blocking SDK call in a thread, translating its errors."""
        try:
            return await asyncio.to_thread(fn, *args, **kwargs)
        except docker.errors.ImageNotFound as exc:
            raise PreconditionFailed(_explain(exc)) from exc
        except docker.errors.APIError as exc:
            raise SandboxError(f"Docker engine refused: {_explain(exc)}") from exc
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            raise BackendUnavailable(f"Docker engine at {self.url} failed: {exc}") from exc

    def image(self, reference: str) -> ImageInfo:
        """Resolve `reference` to an image ID (blocking); PreconditionFailed if absent."""
        try:
            data = self.api.inspect_image(reference)
        except docker.errors.ImageNotFound as exc:
            raise PreconditionFailed(
                f"image {reference!r} is not present on this host (images are never pulled "
                "at call time; build it with `nexflow image build` or scripts/build-images.sh)"
            ) from exc
        except docker.errors.APIError as exc:
            raise PreconditionFailed(f"image {reference!r}: {_explain(exc)}") from exc
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            raise BackendUnavailable(f"Docker engine at {self.url} failed: {exc}") from exc
        labels = (data.get("Config") or {}).get("Labels") or {}
        return ImageInfo(id=str(data["Id"]), labels=dict(labels))

    async def resolve_image(self, reference: str) -> ImageInfo:
        """`image()` without the engine round trip when a kept answer is still valid."""
        kept = self._images.get(reference) if self._watching else None
        if kept is not None:
            return kept
        seen = self._image_events
        info = await asyncio.to_thread(self.image, reference)
        if self._watching and seen == self._image_events:
            self._images[reference] = info
        return info

    def watch_images(self) -> None:
        """Start the image event watch that lets `resolve_image` keep its answers."""
        if self._watch is None:
            self._watch = asyncio.get_running_loop().create_task(self._watch_images())

    async def stop_watching(self) -> None:
        if self._watch is not None:
            self._watch.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._watch
            self._watch = None

    def _image_changed(self) -> None:
        self._image_events += 1
        self._images.clear()

    async def _watch_images(self) -> None:
        while True:
            try:
                await self._follow_image_events()
            except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError):
                pass
            finally:
                self._watching = False
                self._image_changed()
            await asyncio.sleep(_REWATCH_S)

    async def _follow_image_events(self) -> None:
        query = urllib.parse.urlencode({"filters": json.dumps({"type": ["image"]})})
        request = (
            f"GET /v{self._version}/events?{query} HTTP/1.1\r\nHost: docker\r\n\r\n"
        ).encode()
        reader, writer = await asyncio.open_unix_connection(self._socket_path, limit=_HEADER_LIMIT)
        try:
            writer.write(request)
            await writer.drain()
            head = await reader.readuntil(b"\r\n\r\n")
            if b" 200 " not in head.split(b"\r\n", 1)[0] + b" ":
                return
            chunked = b"transfer-encoding: chunked" in head.lower()
            self._image_changed()  # what was resolved before the watch began is not kept
            self._watching = True  # the engine subscribed before it answered
            while True:
                if chunked:
                    size = int((await reader.readuntil(b"\r\n")).strip() or b"0", 16)
                    if size == 0:
                        return
                    await reader.readexactly(size + 2)
                elif not await reader.readline():
                    return
                self._image_changed()  # any image event: every kept answer goes
        finally:
            writer.close()

    async def attach(self, container_id: str) -> AttachStream:
        """Attach to stdin, stdout and stderr of a created (not yet started) container."""
        query = "stream=1&stdin=1&stdout=1&stderr=1"
        request = (
            f"POST /v{self._version}/containers/{container_id}/attach?{query} HTTP/1.1\r\n"
            "Host: docker\r\n"
            "Connection: Upgrade\r\n"
            "Upgrade: tcp\r\n"
            "Content-Length: 0\r\n\r\n"
        ).encode()
        try:
            reader, writer = await asyncio.open_unix_connection(
                self._socket_path, limit=_HEADER_LIMIT
            )
        except OSError as exc:
            raise BackendUnavailable(f"Docker engine at {self.url}: {exc.strerror}") from exc
        # Closed on every way out but success, cancellation included: a pool's set-up is
        # cancelled when the pool closes, and a writer left open is a leaked socket.
        try:
            try:
                writer.write(request)
                await writer.drain()
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, OSError) as exc:
                raise SandboxError(f"Docker engine closed the attach stream: {exc}") from exc
            status_line = head.split(b"\r\n", 1)[0].decode(errors="replace")
            parts = status_line.split(" ", 2)
            if len(parts) < 2 or parts[1] not in {"101", "200"}:
                detail = await _error_body(reader, head)
                raise SandboxError(f"Docker engine refused to attach: {status_line} {detail}")
        except BaseException:
            writer.close()
            raise
        return AttachStream(reader, writer)


def _unix_path(url: str) -> str:
    parsed = urllib.parse.urlparse(url)
    if parsed.scheme not in {"unix", "http+unix"}:
        raise BackendUnavailable(f"Docker engine url {url!r}: only unix:// sockets are supported")
    return parsed.path


def _explain(exc: docker.errors.DockerException) -> str:
    explanation = getattr(exc, "explanation", None)
    return str(explanation or exc)[:500]


async def _error_body(reader: asyncio.StreamReader, head: bytes) -> str:
    for line in head.split(b"\r\n"):
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length" and value.strip().isdigit():
            try:
                body = await asyncio.wait_for(reader.readexactly(int(value.strip())), 2)
            except (TimeoutError, asyncio.IncompleteReadError, OSError):
                return ""
            return body.decode(errors="replace").strip()[:300]
    return ""
