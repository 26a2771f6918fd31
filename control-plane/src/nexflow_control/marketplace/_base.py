"""What every marketplace action shares: the home, the audit log, the catalog reload, one
lock so changes come one at a time, the audited refusal and which registry a name uses."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from pathlib import Path
from typing import Any

from nexflow_registry.client import ClientError, TrustStore, normalize_url

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
