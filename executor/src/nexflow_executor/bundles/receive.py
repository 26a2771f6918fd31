"""One PutBundle stream: header checks, size limit, hashing, then the store.

The first chunk names the digest and the size. The bytes go to a private file in the
cache's `.incoming` directory while they are hashed; only a stream whose bytes have
exactly the declared size and sha256 reaches `BundleStore.add`. Whatever happens (a
refusal, a client that goes away mid-upload), the file is removed before this returns,
so nothing partial is ever stored.

Refusals: INVALID_ARGUMENT (a malformed stream or archive), RESOURCE_EXHAUSTED (larger
than `bundles.max_bytes`), DATA_LOSS (the bytes differ from the declared size or digest).
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import secrets
from collections.abc import AsyncIterator
from typing import BinaryIO

from nexflow.executor.v1 import executor_pb2 as pb

from nexflow_executor.bundles.store import BundleStore, check_digest
from nexflow_executor.errors import BundleCorrupt, Exhausted, InvalidRequest

__all__ = ["MAX_CHUNK_BYTES", "receive_bundle"]

MAX_CHUNK_BYTES = 1024 * 1024


async def receive_bundle(
    chunks: AsyncIterator[pb.BundleChunk], store: BundleStore, max_bytes: int
) -> tuple[str, bool]:
    """Receive one bundle; its digest and whether it was stored (False: already held)."""
    first = await anext(chunks, None)
    if first is None:
        raise InvalidRequest("chunks", "the stream carried no chunk")
    digest = check_digest("sha256", first.sha256)
    if first.size == 0:
        raise InvalidRequest("size", "required in the first chunk")
    if first.size > max_bytes:
        raise Exhausted(f"size: {first.size} bytes is above the bundle limit of {max_bytes}")
    if store.has(digest):
        return digest, False  # held already: the rest of the stream is not needed
    path = store.incoming / f"upload-{secrets.token_hex(8)}.tar"
    try:
        # A private local file; each write is at most one 1 MiB chunk.
        with open(path, "xb", opener=_private) as out:  # noqa: ASYNC230
            received = await _copy(first, chunks, out, digest)
        if received[0] != first.size:
            raise BundleCorrupt(f"size: {received[0]} bytes arrived, {first.size} were declared")
        if received[1] != digest:
            raise BundleCorrupt(f"sha256: the bytes hash to {received[1]}, not to {digest}")
        return digest, await store.add(digest, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


async def _copy(
    first: pb.BundleChunk,
    chunks: AsyncIterator[pb.BundleChunk],
    out: BinaryIO,
    digest: str,
) -> tuple[int, str]:
    hasher = hashlib.sha256()
    total = 0
    chunk: pb.BundleChunk | None = first
    index = 0
    while chunk is not None:
        if index and chunk.sha256 not in ("", digest):
            raise InvalidRequest(f"chunks[{index}].sha256", "differs from the first chunk's")
        if index and chunk.size not in (0, first.size):
            raise InvalidRequest(f"chunks[{index}].size", "differs from the first chunk's")
        if len(chunk.data) > MAX_CHUNK_BYTES:
            raise InvalidRequest(f"chunks[{index}].data", "chunks are at most 1 MiB")
        total += len(chunk.data)
        if total > first.size:
            raise BundleCorrupt(f"size: more than the {first.size} declared bytes arrived")
        hasher.update(chunk.data)
        out.write(chunk.data)
        chunk = await anext(chunks, None)
        index += 1
    return total, hasher.hexdigest()


def _private(path: str, flags: int) -> int:
    return os.open(path, flags | os.O_NOFOLLOW, 0o600)
