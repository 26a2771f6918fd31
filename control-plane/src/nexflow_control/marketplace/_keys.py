"""Per registry: the publisher keys this home trusts (list, trust and revoke, audited) and
the state of its log as this home sees it."""

from __future__ import annotations

from nexflow_registry.client import (
    ClientError,
    KeyPin,
    LogStatus,
    TrustStore,
    log_status,
)

from ._base import MarketplaceBase
from ._errors import mapped


class KeyActions(MarketplaceBase):
    async def log_status(self, registry: str | None) -> LogStatus:
        """The registry's checkpoint and whether it extends the last one an install saw."""
        url = self._registry(registry, "")
        try:
            async with self._client(url, 10) as client:
                return await log_status(client, TrustStore.load(self.home))
        except ClientError as exc:
            raise mapped(exc) from None

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
