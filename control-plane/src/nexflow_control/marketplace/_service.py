"""`Marketplace`: install, update, remove and consent to registry skills; trust and revoke
publisher keys. One change at a time; each one audited; the catalog reloaded live after it.

A refusal (any `ClientError`) is audited as `marketplace.refused` with its code, and leaves
the home as it was: nothing is unpacked before the release proved itself, and the lockfile
and trust store are written only after the new release folder is in place.
"""

from __future__ import annotations

import asyncio
import shutil
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from nexflow_registry.client import (
    ClientError,
    KeyPin,
    RegistryClient,
    TrustStore,
    Verified,
    fetch_verified,
    normalize_url,
    parse_spec,
)

from ..audit import AuditEvent, AuditLog
from ..errors import Conflict, NotFound
from ..skills import SkillCatalog, load_skill
from . import _lock
from ._errors import MarketplaceError, mapped
from ._lock import LockedSkill
from ._place import place
from ._request import SkillRequest, request_of
from ._sources import SOURCE, annotate, installed_sources


@dataclass
class Installed:
    entry: LockedSkill
    changed: bool
    """False when this exact release was already installed"""
    first_use: list[str] = field(default_factory=list)


def load_catalog(base: list[tuple[Path, str]], home: Path) -> SkillCatalog:
    """Every skill from `base` and the home's installed releases, marked from the lockfile."""
    lock = _lock.read(home)
    trust = TrustStore.load(home)
    revoked = {
        (normalize_url(e.registry), e.key_id)
        for e in lock.skills.values()
        for pin in trust.keys(e.registry, e.publisher)
        if pin.key_id == e.key_id and pin.status == "revoked"
    }
    catalog = SkillCatalog.load(base + installed_sources(home, lock))
    return annotate(catalog, home, lock, revoked)


class Marketplace:
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

    async def install(
        self,
        spec_text: str,
        actor: str,
        *,
        registry: str | None = None,
        min_age_hours: float | None = None,
    ) -> Installed:
        """Resolve, verify, unpack and lock one release; the catalog reloads live."""
        async with self._turn:
            try:
                spec = parse_spec(spec_text)
            except ClientError as exc:
                raise await self._refused(exc, actor, None, spec=spec_text[:200]) from None
            url = self._registry(registry, spec.name)
            current = self.catalog().get(spec.name)
            if current is not None and current.source != SOURCE:
                raise Conflict(
                    f"a {current.source} skill is already named {spec.name!r}",
                    code="skill_name_taken",
                )
            age = self.min_age_hours if min_age_hours is None else min_age_hours
            try:
                trust = TrustStore.load(self.home)
                async with RegistryClient(url) as client:
                    verified = await fetch_verified(client, trust, spec, min_age_hours=age)
                return await self._place(verified, trust, actor)
            except ClientError as exc:
                raise await self._refused(
                    exc, actor, spec.name, registry=url, spec=str(spec)
                ) from None

    async def _place(self, verified: Verified, trust: TrustStore, actor: str) -> Installed:
        release = verified.release
        lock = _lock.read(self.home)
        old = lock.skills.get(release.name)
        if old is not None and old.digest == release.digest:
            trust.save()
            return Installed(old, changed=False, first_use=verified.first_use)
        entry = await asyncio.to_thread(place, self.home, verified, old)
        try:
            await self._audit(
                "marketplace.updated" if old else "marketplace.installed",
                actor,
                release.name,
                version=release.version,
                previous=old.version if old else None,
                digest=release.digest,
                publisher=release.publisher,
                key_id=release.key_id,
                registry=verified.registry,
                checkpoint_size=verified.checkpoint_size,
                first_use=verified.first_use,
                consent_required=entry.consent_diff.lines(),
            )
        except BaseException:
            shutil.rmtree((self.home / entry.path).parent, ignore_errors=True)
            raise
        lock.skills[release.name] = entry
        _lock.write(self.home, lock)
        trust.save()
        self.on_catalog(self.catalog())
        return Installed(entry, changed=True, first_use=verified.first_use)

    async def remove(self, name: str, actor: str) -> LockedSkill:
        async with self._turn:
            lock = _lock.read(self.home)
            entry = lock.skills.pop(name, None)
            if entry is None:
                raise NotFound(
                    f"{name!r} was not installed from a registry", code="skill_not_installed"
                )
            await self._audit(
                "marketplace.removed", actor, name, version=entry.version, digest=entry.digest
            )
            _lock.write(self.home, lock)
            self.on_catalog(self.catalog())
            shutil.rmtree((self.home / entry.path).parent, ignore_errors=True)
            return entry

    async def consent(self, name: str, actor: str) -> LockedSkill:
        """Approve what a pending update asks for beyond the last approval."""
        async with self._turn:
            lock = _lock.read(self.home)
            entry = lock.skills.get(name)
            if entry is None:
                raise NotFound(
                    f"{name!r} was not installed from a registry", code="skill_not_installed"
                )
            if not entry.consent_pending:
                raise Conflict(
                    f"{name!r} has no update awaiting consent", code="consent_not_pending"
                )
            await self._audit(
                "marketplace.consent_granted", actor, name,
                version=entry.version, digest=entry.digest, approved=entry.consent_diff.lines(),
            )  # fmt: skip
            skill = load_skill(self.home / entry.path, SOURCE).skill
            granted = request_of(skill) if skill is not None else entry.granted
            lock.skills[name] = entry.model_copy(
                update={"granted": granted, "consent_diff": SkillRequest()}
            )
            _lock.write(self.home, lock)
            self.on_catalog(self.catalog())
            return lock.skills[name]

    def keys(self, registry: str | None) -> list[KeyPin]:
        """The pinned keys of one registry, or of every one this home knows."""
        url = registry or self.default_registry
        try:
            trust = TrustStore.load(self.home)
            urls = [url] if url else trust.registries()
            return [k for reg in urls for k in trust.keys(reg)]
        except ClientError as exc:
            raise mapped(exc) from None

    async def trust(
        self, publisher: str, public_key: str, registry: str | None, actor: str
    ) -> KeyPin:
        async with self._turn:
            url = self._registry(registry, "")
            try:
                store = TrustStore.load(self.home)
                pin = store.trust(url, publisher, public_key, how="explicit")
            except ClientError as exc:
                raise await self._refused(exc, actor, None, publisher=publisher) from None
            await self._audit(
                "marketplace.key_trusted", actor, None,
                registry=url, publisher=publisher, key_id=pin.key_id,
            )  # fmt: skip
            store.save()
            return pin

    async def revoke(self, publisher: str, key: str, registry: str | None, actor: str) -> str:
        async with self._turn:
            url = self._registry(registry, "")
            try:
                store = TrustStore.load(self.home)
                kid = store.revoke(url, publisher, key)
            except ClientError as exc:
                raise await self._refused(exc, actor, None, publisher=publisher) from None
            await self._audit(
                "marketplace.key_revoked",
                actor,
                None,
                registry=url,
                publisher=publisher,
                key_id=kid,
            )
            store.save()
            self.on_catalog(self.catalog())
            return kid
