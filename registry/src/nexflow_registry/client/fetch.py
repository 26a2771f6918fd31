"""The registry's HTTP API as the install client reads it (httpx); nothing here is trusted.

Each method returns what the registry said, parsed into its typed model; `verify` and
`install` decide whether to believe it.
"""

from __future__ import annotations

import base64
from typing import TypeVar

import httpx
from pydantic import BaseModel, ValidationError

from ..models import (
    ConsistencyOut,
    EntryOut,
    InclusionOut,
    PackageOut,
    PublisherOut,
    SearchOut,
    VersionOut,
)
from .errors import RegistryBadAnswer, RegistryUnreachable, ReleaseNotFound
from .trust import normalize_url

Model = TypeVar("Model", bound=BaseModel)
Params = dict[str, str | int]
MAX_ARCHIVE_BYTES = 64 * 1024 * 1024
MAX_ANSWER_BYTES = 4 * 1024 * 1024
"""the largest JSON (or text) answer read; a package with thousands of versions fits"""


class RegistryClient:
    def __init__(
        self, url: str, *, timeout: float = 30, transport: httpx.AsyncBaseTransport | None = None
    ) -> None:
        self.url = normalize_url(url)
        self._http = httpx.AsyncClient(
            base_url=self.url,
            timeout=httpx.Timeout(timeout, connect=5),
            transport=transport,
        )

    async def __aenter__(self) -> RegistryClient:
        return self

    async def __aexit__(self, *_: object) -> None:
        await self._http.aclose()

    async def _get(self, path: str, params: Params | None = None) -> bytes:
        """The body of a 200 answer, at most `MAX_ANSWER_BYTES` (`RegistryBadAnswer` past
        that: a registry is a remote nobody vouched for)."""
        try:
            async with self._http.stream("GET", path, params=params) as resp:
                if resp.status_code == 404:
                    await _read(resp, 2048, path, cut=True)  # read out: the connection stays
                    raise ReleaseNotFound(f"the registry has no {path.removeprefix('/api/v1/')}")
                if resp.status_code != 200:
                    head = (await _read(resp, 2048, path, cut=True)).decode(errors="replace")
                    raise RegistryUnreachable(
                        f"the registry answered {resp.status_code} to {path}: {head[:200]}"
                    )
                return await _read(resp, MAX_ANSWER_BYTES, path)
        except httpx.HTTPError as exc:
            raise RegistryUnreachable(f"cannot reach the registry at {self.url}: {exc}") from exc

    async def _model(self, model: type[Model], path: str, **params: str | int) -> Model:
        content = await self._get(path, params or None)
        try:
            return model.model_validate_json(content)
        except ValidationError as exc:
            raise RegistryBadAnswer(f"the registry's answer to {path} is malformed") from exc

    async def search(
        self, q: str = "", *, tag: str | None = None, limit: int = 50, cursor: str | None = None
    ) -> SearchOut:
        """One page of the registry's search (name, tags, description text; `tag` exact)."""
        params: dict[str, str | int] = {"q": q, "limit": limit}
        if tag:
            params["tag"] = tag
        if cursor:
            params["cursor"] = cursor
        return await self._model(SearchOut, "/api/v1/packages", **params)

    async def package(self, name: str) -> PackageOut:
        return await self._model(PackageOut, f"/api/v1/packages/{name}")

    async def version(self, name: str, version: str) -> VersionOut:
        return await self._model(VersionOut, f"/api/v1/packages/{name}/{version}")

    async def archive(self, name: str, version: str) -> bytes:
        path = f"/api/v1/packages/{name}/{version}/archive"
        try:
            async with self._http.stream("GET", path) as resp:
                if resp.status_code != 200:
                    await resp.aread()
                    raise RegistryUnreachable(
                        f"the registry answered {resp.status_code} to {path}: {resp.text[:200]}"
                    )
                chunks: list[bytes] = []
                total = 0
                async for chunk in resp.aiter_bytes():
                    total += len(chunk)
                    if total > MAX_ARCHIVE_BYTES:
                        raise RegistryUnreachable(f"the archive is over {MAX_ARCHIVE_BYTES} bytes")
                    chunks.append(chunk)
        except httpx.HTTPError as exc:
            raise RegistryUnreachable(f"cannot download {path}: {exc}") from exc
        return b"".join(chunks)

    async def log_key(self) -> str:
        return (await self._get("/api/v1/log/key")).decode(errors="replace").strip()

    async def checkpoint(self) -> str:
        return (await self._get("/api/v1/log/checkpoint")).decode(errors="replace")

    async def entry(self, index: int) -> bytes:
        out = await self._model(EntryOut, f"/api/v1/log/entries/{index}")
        return _b64(out.data)

    async def inclusion(self, leaf_index: int, tree_size: int) -> list[bytes]:
        out = await self._model(
            InclusionOut, "/api/v1/log/proof/inclusion", leaf_index=leaf_index, tree_size=tree_size
        )
        return [_b64(h) for h in out.hashes]

    async def consistency(self, first: int, second: int) -> list[bytes]:
        out = await self._model(
            ConsistencyOut, "/api/v1/log/proof/consistency", first=first, second=second
        )
        return [_b64(h) for h in out.hashes]

    async def publisher(self, name: str) -> PublisherOut:
        """The publisher's keys with their status and the log entry that added each."""
        return await self._model(PublisherOut, f"/api/v1/publishers/{name}")


async def _read(resp: httpx.Response, limit: int, path: str, *, cut: bool = False) -> bytes:
    """At most `limit` bytes of the body: the first `limit` when `cut`, else
    `RegistryBadAnswer` when there are more (checked as they arrive, not after)."""
    chunks: list[bytes] = []
    total = 0
    async for chunk in resp.aiter_bytes():
        total += len(chunk)
        if total > limit:
            if cut:
                chunks.append(chunk[: limit - (total - len(chunk))])
                break
            raise RegistryBadAnswer(f"the registry's answer to {path} is over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _b64(text: str) -> bytes:
    try:
        return base64.b64decode(text, validate=True)
    except ValueError as exc:
        raise RegistryBadAnswer("the registry sent malformed base64") from exc
