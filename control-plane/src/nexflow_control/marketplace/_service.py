"""`Marketplace`: install, update, remove and consent to registry skills; trust and revoke
publisher keys. One change at a time; each one audited; the catalog reloaded live after it.

A refusal (any `ClientError`) is audited as `marketplace.refused` with its code, and leaves
the home as it was: nothing is unpacked before the release proved itself, and the lockfile
and trust store are written only after the new release folder is in place.
"""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass, field
from typing import Any

from nexflow_registry.client import (
    ClientError,
    TrustStore,
    Verified,
    fetch_verified,
    parse_spec,
)

from ..errors import Conflict, NotFound
from ..skills import load_skill
from . import _lock
from ._browse import BrowseActions
from ._keys import KeyActions
from ._local import place_archive
from ._lock import LockedSkill, Lockfile
from ._place import place
from ._request import SkillRequest, request_of
from ._sources import SOURCE


@dataclass
class Installed:
    entry: LockedSkill
    changed: bool
    """False when this exact release was already installed"""
    first_use: list[str] = field(default_factory=list)


class Marketplace(KeyActions, BrowseActions):
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
                async with self._client(url, 30) as client:
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
        await self._commit(lock, entry, old, actor, first_use=verified.first_use)
        trust.save()
        return Installed(entry, changed=True, first_use=verified.first_use)

    async def _commit(
        self, lock: Lockfile, entry: LockedSkill, old: LockedSkill | None, actor: str, **more: Any
    ) -> None:
        """Audit the placed `entry`, lock it and reload the catalog; its folder is removed
        again if the audit fails."""
        try:
            await self._audit(
                "marketplace.updated" if old else "marketplace.installed",
                actor,
                entry.name,
                version=entry.version,
                previous=old.version if old else None,
                digest=entry.digest,
                publisher=entry.publisher,
                publisher_verified=entry.verified,
                key_id=entry.key_id,
                registry=entry.registry,
                checkpoint_size=entry.checkpoint_size,
                scan_verdict=entry.scan_verdict,
                scan_findings=entry.scan_findings,
                consent_required=entry.consent_diff.lines(),
                **more,
            )
        except BaseException:
            shutil.rmtree((self.home / entry.path).parent, ignore_errors=True)
            raise
        lock.skills[entry.name] = entry
        _lock.write(self.home, lock)
        self.on_catalog(self.catalog())

    async def install_archive(self, data: bytes, label: str, actor: str) -> Installed:
        """Install an unsigned skill from a folder's or ClawHub archive's bytes: scanned,
        placed, locked with its digest, never `publisher_verified`."""
        async with self._turn:
            lock = _lock.read(self.home)
            try:
                entry = await asyncio.to_thread(place_archive, self.home, data, lock, label)
            except ClientError as exc:
                raise await self._refused(exc, actor, None, source=label[:200]) from None
            old = lock.skills.get(entry.name)
            current = self.catalog().get(entry.name)
            if current is not None and current.source != SOURCE:
                shutil.rmtree((self.home / entry.path).parent, ignore_errors=True)
                raise Conflict(
                    f"a {current.source} skill is already named {entry.name!r}",
                    code="skill_name_taken",
                )
            if old is not None and old.path == entry.path:
                return Installed(old, changed=False)
            await self._commit(lock, entry, old, actor, source=label[:200])
            return Installed(entry, changed=True)

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
