"""What every marketplace action shares: the home, the audit log, the catalog reload, one
lock so changes come one at a time, the audited refusal and which registry a name uses."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from nexflow_registry.client import ClientError, RegistryClient, TrustStore, normalize_url

from ..audit import AuditEvent, AuditLog
from ..errors import Conflict, NotFound
from ..skills import SkillCatalog
from . import _lock
from ._errors import MarketplaceError, mapped
from ._lock import LockedSkill
from ._sources import annotate, installed_sources


def load_catalog(base: list[tuple[Path, str]], home: Path) -> SkillCatalog:
    """Every skill from `base` and the home's installed releases, marked from the lockfile."""
    lock = _lock.read(home)
    trust = TrustStore.load(home)
    revoked = {
        (normalize_url(e.registry), e.key_id)
        for e in lock.skills.values()
        if e.verified
        for pin in trust.keys(e.registry, e.publisher)
        if pin.key_id == e.key_id and pin.status == "revoked"
    }
    catalog = SkillCatalog.load(base + installed_sources(home, lock))
    return annotate(catalog, home, lock, revoked)


class _KeptOpen(httpx.AsyncBaseTransport):
    """One connection pool (and TLS context) for every registry read (browse, install,
    log): a new `httpx` client per request would build a TLS context each time (tens of
    ms, measured by `bench/registry_browse.py`). Closing one read's client leaves the pool
    open; it lives as long as the process."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        return await self._inner.handle_async_request(request)

    async def aclose(self) -> None:
        return None  # one read's client closing; the pool stays

    async def close(self) -> None:
        await self._inner.aclose()


class MarketplaceBase:
    def __init__(
        self,
        home: Path,
        audit: AuditLog,
        base_sources: list[tuple[Path, str]],
        on_catalog: Callable[[SkillCatalog], None],
        *,
        default_registry: str | None = None,
        min_age_hours: float = 0,
    ) -> None:
        self.home = home
        self.audit = audit
        self.base_sources = base_sources
        self.on_catalog = on_catalog
        self.default_registry = default_registry
        self.min_age_hours = min_age_hours
        self._turn = asyncio.Lock()
        self._pool: _KeptOpen | None = None

    async def close(self) -> None:
        """Close the shared registry connections (the app's shutdown)."""
        if self._pool is not None:
            pool, self._pool = self._pool, None
            await pool.close()

    def _client(self, url: str, timeout: float) -> RegistryClient:
        """A client for one registry read, on the connection pool every read shares."""
        if self._pool is None:
            self._pool = _KeptOpen()
        return RegistryClient(url, timeout=timeout, transport=self._pool)

    def catalog(self) -> SkillCatalog:
        return load_catalog(self.base_sources, self.home)

    def installed(self) -> list[LockedSkill]:
        return [e for _, e in sorted(_lock.read(self.home).skills.items())]

    def entry(self, name: str) -> LockedSkill:
        found = _lock.read(self.home).skills.get(name)
        if found is None:
            raise NotFound(
                f"{name!r} was not installed from a registry", code="skill_not_installed"
            )
        return found

    async def _audit(self, action: str, actor: str, skill: str | None, **payload: Any) -> None:
        await self.audit.append(
            AuditEvent(action=action, actor=actor, skill=skill, payload=payload)
        )

    async def _refused(
        self, exc: ClientError, actor: str, skill: str | None, **facts: Any
    ) -> Exception:
        await self.audit.append(
            AuditEvent(
                action="marketplace.refused",
                actor=actor,
                skill=skill,
                reason_codes=[exc.code],
                payload={"code": exc.code, "message": exc.message, **facts},
            )
        )
        return mapped(exc)

    def _registry(self, given: str | None, name: str) -> str:
        locked = _lock.read(self.home).skills.get(name)
        if locked is not None and not locked.verified and given is None:
            raise Conflict(
                f"{name!r} was installed from a local folder or archive; install it from "
                "there again (or name a registry)",
                code="skill_installed_locally",
            )
        url = given or (locked.registry if locked else None) or self.default_registry
        if url:
            try:
                return normalize_url(url)
            except ClientError as exc:
                raise mapped(exc) from None
        raise MarketplaceError(
            422,
            "name a registry (--registry URL) or set marketplace.registry_url",
            code="registry_required",
        )
