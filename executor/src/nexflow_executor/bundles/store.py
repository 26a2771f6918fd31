"""The bundle cache: unpacked skill bundles by sha256, read-only, bounded, least recently
used first out.

Layout, inside the executor's state directory (0700, root; never mountable by a grant):

```
<state_dir>/bundles/<sha256>.<token>/   one unpacked bundle (0555 dirs, 0444/0555 files)
<state_dir>/bundles/.incoming/          uploads and unpacks in progress, never looked up
```

A bundle appears under its final name by one `rename` once it is verified and completely
unpacked, so nothing half-unpacked can ever be run. Each store gets a fresh token: a
bundle evicted and sent again lands at a new path, so a warm container made for the old
path (whose files are gone) never matches a call again. Bundles a running call holds
(`hold`) are never evicted; the others go, least recently used first, once the unpacked
bytes exceed `bundles.cache_bytes`. The cache survives restarts: `open()` indexes what
is there and removes what an interrupted upload left in `.incoming`.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import secrets
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import structlog

from nexflow_executor.bundles.unpack import unpack
from nexflow_executor.errors import InvalidRequest, PreconditionFailed
from nexflow_executor.settings import Settings

__all__ = ["BundleStore", "check_digest"]

log = structlog.get_logger("nexflow_executor")
_SHA256 = re.compile(r"[0-9a-f]{64}")
_STORED = re.compile(r"([0-9a-f]{64})\.[0-9a-f]{16}")


def check_digest(field: str, value: str) -> str:
    """`value` if it is a sha256 as the contract spells it (64 lowercase hex digits)."""
    if not _SHA256.fullmatch(value):
        raise InvalidRequest(field, "must be 64 lowercase hex digits (a sha256)")
    return value


@dataclass(slots=True)
class _Bundle:
    path: Path
    size: int
    last_used: float
    users: int = 0


class BundleStore:
    """Unpacked bundles by digest; `open()` before use."""

    def __init__(self, settings: Settings) -> None:
        self._limits = settings.bundles
        self._root = settings.bundle_dir
        self._incoming = self._root / ".incoming"
        self._bundles: dict[str, _Bundle] = {}

    @property
    def incoming(self) -> Path:
        """Where uploads are written while they arrive."""
        return self._incoming

    def open(self) -> None:
        """Create the cache, drop leftovers of interrupted uploads, index what is stored."""
        self._root.mkdir(mode=0o700, parents=True, exist_ok=True)
        os.chmod(self._root, 0o700)
        shutil.rmtree(self._incoming, ignore_errors=True)
        self._incoming.mkdir(mode=0o700)
        self._root = Path(os.path.realpath(self._root))
        self._incoming = self._root / ".incoming"
        for entry in sorted(self._root.iterdir()):
            match = _STORED.fullmatch(entry.name)
            if match is None or entry.is_symlink() or not entry.is_dir():
                continue
            digest = match.group(1)
            if digest in self._bundles:  # a second copy (a crash between store and evict)
                shutil.rmtree(entry, ignore_errors=True)
                continue
            size = sum(f.stat().st_size for f in entry.rglob("*") if f.is_file())
            self._bundles[digest] = _Bundle(entry, size, entry.stat().st_mtime)
        log.info("executor.bundles", held=len(self._bundles), bytes=self.size)

    @property
    def size(self) -> int:
        """Unpacked bytes held."""
        return sum(b.size for b in self._bundles.values())

    def has(self, digest: str) -> bool:
        return digest in self._bundles

    def path_of(self, digest: str) -> Path:
        """Where bundle `digest` is unpacked; FAILED_PRECONDITION `bundle_missing` if absent."""
        check_digest("bundle_sha256", digest)
        bundle = self._bundles.get(digest)
        if bundle is None:
            raise PreconditionFailed(f"bundle_missing {digest}")
        return bundle.path

    @contextlib.contextmanager
    def hold(self, digest: str) -> Iterator[Path]:
        """Keep bundle `digest` from eviction while a call runs it."""
        self.path_of(digest)
        bundle = self._bundles[digest]
        bundle.users += 1
        bundle.last_used = time.time()
        try:
            yield bundle.path
        finally:
            bundle.users -= 1

    def is_bundle(self, path: Path) -> bool:
        """Whether `path` is a stored bundle's directory (for re-checks before a mount)."""
        return any(b.path == path for b in self._bundles.values())

    async def add(self, digest: str, archive: Path) -> bool:
        """Unpack the verified `archive` as bundle `digest`; False if it was already held."""
        if digest in self._bundles:
            return False
        work = self._incoming / f"{digest}.{secrets.token_hex(8)}"
        try:
            size = await asyncio.to_thread(unpack, archive, work, self._limits)
            if digest in self._bundles:  # another upload of the same bundle won the race
                return False
            final = self._root / work.name
            os.rename(work, final)
        finally:
            await asyncio.to_thread(_remove, work)
        self._bundles[digest] = _Bundle(final, size, time.time())
        log.info("executor.bundle_stored", sha256=digest, bytes=size)
        await self._evict(keep=digest)
        return True

    async def _evict(self, keep: str) -> None:
        excess = self.size - self._limits.cache_bytes
        idle = sorted(
            (b.last_used, d) for d, b in self._bundles.items() if b.users == 0 and d != keep
        )
        for _, digest in idle:
            if excess <= 0:
                break
            bundle = self._bundles.pop(digest)
            excess -= bundle.size
            log.info("executor.bundle_evicted", sha256=digest, bytes=bundle.size)
            await asyncio.to_thread(_remove, bundle.path)


def _remove(path: Path) -> None:
    if path.exists():
        shutil.rmtree(path, ignore_errors=True)
