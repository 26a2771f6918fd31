"""Browsing a registry from the runtime's side: search, and one package's page with its
signature checked against this home's trust store and what is installed here.

Read only: nothing is pinned, saved or unpacked (the install path does that, with every
check). Each registry read is bounded in time (`TIMEOUT_S`) and size (the install client's
`MAX_ANSWER_BYTES`, then the bounded models); errors map to

    registry_unavailable   503  network, timeout, an error status from the registry
    registry_bad_answer    502  malformed, oversized or out-of-bounds answer
    package_not_found      404  the registry has no such package
    registry_required      422  no registry named and none configured
"""

from __future__ import annotations

from nexflow_registry.client import (
    ClientError,
    RegistryBadAnswer,
    RegistryClient,
    RegistryUnreachable,
    ReleaseNotFound,
    TrustStore,
    VerificationFailed,
    normalize_url,
)
from nexflow_registry.client import verify as checks
from nexflow_registry.models import PackageOut, PublisherOut, VersionOut

from ._base import MarketplaceBase
from ._browse_models import (
    MAX_VERSIONS,
    BrowseResults,
    PackageDetail,
    SignatureCheck,
    bounded,
)
from ._errors import MarketplaceError, mapped
from ._lock import LockedSkill

TIMEOUT_S = 10.0


def _browse_error(exc: ClientError) -> MarketplaceError:
    if isinstance(exc, RegistryBadAnswer):
        return MarketplaceError(502, exc.message, code="registry_bad_answer")
    if isinstance(exc, RegistryUnreachable):
        return MarketplaceError(503, exc.message, code="registry_unavailable")
    if isinstance(exc, ReleaseNotFound):
        return MarketplaceError(404, exc.message, code="package_not_found")
    return mapped(exc)


def signature_check(
    url: str, release: VersionOut, listed: PublisherOut | None, trust: TrustStore
) -> SignatureCheck:
    """How the install would judge the release's key, and whether its signature verifies
    over the manifest (under the pinned key, or the registry's when none is pinned yet)."""
    kid = release.key_id
    if not release.signed:
        return SignatureCheck(
            signed=False, key_id="", key_status="unsigned", valid=None,
            message="unsigned: not installable through the signed path",
        )  # fmt: skip
    shown = {k.key_id: k for k in listed.keys} if listed is not None else {}
    if kid in shown and shown[kid].status == "revoked":
        return SignatureCheck(
            signed=True, key_id=kid, key_status="revoked", valid=None,
            message="the registry revoked this key",
        )  # fmt: skip
    try:
        pinned = trust.check_key(url, release.publisher, kid)
    except VerificationFailed as exc:
        status = "revoked" if exc.code == "key_revoked" else "untrusted"
        return SignatureCheck(
            signed=True, key_id=kid, key_status=status, valid=None, message=exc.message
        )
    pin = trust.pin(url, release.publisher, kid) if pinned else None
    public_key = pin.public_key if pin else (shown[kid].public_key if kid in shown else None)
    if public_key is None:
        return SignatureCheck(
            signed=True, key_id=kid, key_status="not_pinned", valid=None,
            message="the registry does not show this key",
        )  # fmt: skip
    try:
        checks.check_signature(release, public_key)
    except VerificationFailed as exc:
        valid, message = False, exc.message
    else:
        valid = True
        message = (
            "signed by a key pinned here; the signature verifies"
            if pinned
            else "the signature verifies under the key the registry shows; not pinned yet "
            "(an install pins it on first use)"
        )
    return SignatureCheck(
        signed=True,
        key_id=kid,
        key_status="trusted" if pinned else "not_pinned",
        valid=valid,
        message=message,
    )


async def _publisher(client: RegistryClient, release: VersionOut) -> PublisherOut | None:
    """The publisher's keys as the registry lists them; None when it lists no such
    publisher (the signature then has no key to be checked with)."""
    try:
        return await client.publisher(release.publisher)
    except ReleaseNotFound:
        return None


def _action(latest: str | None, installed: LockedSkill | None, url: str) -> str:
    if latest is None:
        return "none"
    if installed is None:
        return "install"
    same = installed.verified and normalize_url(installed.registry) == url
    return "installed" if same and installed.version == latest else "update"


class BrowseActions(MarketplaceBase):
    def browse_url(self, given: str | None) -> str:
        """The registry to browse: the one named, else `marketplace.registry_url`."""
        url = given or self.default_registry
        if not url:
            raise MarketplaceError(
                422,
                "name a registry (its URL) or set marketplace.registry_url",
                code="registry_required",
            )
        try:
            return normalize_url(url)
        except ClientError as exc:
            raise mapped(exc) from None

    async def search(
        self, registry: str | None, q: str, tag: str | None, limit: int, cursor: str | None
    ) -> BrowseResults:
        """One page of the registry's search, bounded."""
        url = self.browse_url(registry)
        try:
            async with self._client(url, TIMEOUT_S) as client:
                found = await client.search(q, tag=tag, limit=limit, cursor=cursor)
            out = bounded(BrowseResults, {"registry": url, **found.model_dump()}, "a search")
        except ClientError as exc:
            raise _browse_error(exc) from None
        out.results = out.results[:limit]  # a registry answering more than asked is cut
        return out

    async def package(self, registry: str | None, name: str) -> PackageDetail:
        """A package's page: versions, the shown version's requests, scan and signature,
        and what this home has installed under its name."""
        url = self.browse_url(registry)
        try:
            trust = TrustStore.load(self.home)
            async with self._client(url, TIMEOUT_S) as client:
                pkg = await client.package(name)
                if pkg.name != name or not pkg.versions:
                    raise RegistryBadAnswer(f"the registry answered another package for {name}")
                if len(pkg.versions) > MAX_VERSIONS:
                    raise RegistryBadAnswer(f"{name} lists over {MAX_VERSIONS} versions")
                shown = pkg.latest or pkg.versions[0].version
                release = await client.version(name, shown)
                if (release.name, release.version) != (name, shown):
                    raise RegistryBadAnswer("the registry answered another release")
                listed = await _publisher(client, release) if release.signed else None
            return self._detail(url, pkg, release, listed, trust)
        except ClientError as exc:
            raise _browse_error(exc) from None

    def _detail(
        self,
        url: str,
        pkg: PackageOut,
        release: VersionOut,
        listed: PublisherOut | None,
        trust: TrustStore,
    ) -> PackageDetail:
        installed = next((e for e in self.installed() if e.name == pkg.name), None)
        sig = signature_check(url, release, listed, trust)
        data = {
            **pkg.model_dump(exclude={"permissions", "key_id", "scan_verdict", "requests"}),
            "registry": url,
            "publisher": release.publisher,
            "publisher_verified": sig.key_status == "trusted" and sig.valid is True,
            "shown": release.version,
            "requests": release.requests.model_dump() if release.requests else None,
            "scan_verdict": release.scan_verdict,
            "scan_findings": [f.model_dump() for f in release.scan_findings],
            "changelog": release.changelog,
            "signature": sig,
            "installed": installed,
            "action": _action(pkg.latest, installed, url),
        }
        return bounded(PackageDetail, data, f"package {pkg.name}")
