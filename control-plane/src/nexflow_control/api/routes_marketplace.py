"""`/api/v1/marketplace`: install, update, remove and consent to registry skills, and the
publisher keys this home trusts (scope `accounts:admin`; each change audited).

    POST   /marketplace/install              {spec, registry?, min_age_hours?}
    POST   /marketplace/install-archive      {archive (base64 zip/.tar.gz), source?}: unsigned
    POST   /marketplace/update               {name?, min_age_hours?}
    GET    /marketplace/skills               the lockfile
    DELETE /marketplace/skills/{name}
    GET    /marketplace/skills/{name}/consent   the diff a pending update asks for
    POST   /marketplace/skills/{name}/consent   approve it
    GET    /marketplace/keys?registry=       pinned publisher keys
    GET    /marketplace/log?registry=        the checkpoint, checked against the last seen
    POST   /marketplace/keys/trust           {publisher, public_key, registry?}
    POST   /marketplace/keys/revoke          {publisher, key, registry?}
    GET    /marketplace/search?q=&tag=&registry=&limit=&cursor=   browse a registry
    GET    /marketplace/packages/{name}?registry=   a package's page, checked against
                                         this home's trust store, with what is installed

Browsing proxies the registry so the web UI stays on one origin; its answer is bounded and
validated (502 `registry_bad_answer`; unreachable 503 `registry_unavailable`).
"""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import Path, Query
from nexflow_registry.client import LogStatus

from ..errors import NexflowError
from ..marketplace import (
    BrowseResults,
    Installed,
    LockedSkill,
    Marketplace,
    MarketplaceError,
    PackageDetail,
)
from .deps import AccountsAdmin, Services, ServicesDep
from .params import PathName
from .route import edge_router
from .schemas_marketplace import (
    ArchiveIn,
    ConsentOut,
    InstalledList,
    InstalledOut,
    InstallIn,
    KeyList,
    KeyOut,
    RevokedOut,
    RevokeIn,
    TrustIn,
    UpdateIn,
    UpdateOut,
    UpdateResult,
)

router = edge_router("/api/v1/marketplace", "marketplace")


def _market(svc: Services) -> Marketplace:
    assert svc.marketplace is not None  # set by build_services
    return svc.marketplace


def _out(done: Installed) -> InstalledOut:
    return InstalledOut(
        skill=done.entry,
        changed=done.changed,
        first_use=done.first_use,
        consent_required=done.entry.consent_diff.lines(),
    )


@router.post("/install")
async def install(body: InstallIn, svc: ServicesDep, who: AccountsAdmin) -> InstalledOut:
    """Resolve, verify (digest, signature, log proofs) and install one release; it is
    callable at once (an update asking for more answers `consent_required` until approved)."""
    done = await _market(svc).install(
        body.spec, who.id, registry=body.registry, min_age_hours=body.min_age_hours
    )
    return _out(done)


@router.post("/install-archive")
async def install_archive(body: ArchiveIn, svc: ServicesDep, who: AccountsAdmin) -> InstalledOut:
    """Install an unsigned skill from a ClawHub-format archive or a folder the CLI zipped:
    scanned (`scan_blocked` refuses it), locked with its digest, never publisher-verified."""
    try:
        data = base64.b64decode(body.archive, validate=True)
    except ValueError:
        raise MarketplaceError(422, "archive is not base64", code="invalid_request") from None
    return _out(await _market(svc).install_archive(data, body.source, who.id))


@router.post("/update")
async def update(body: UpdateIn, svc: ServicesDep, who: AccountsAdmin) -> UpdateOut:
    """Install the latest release of one installed skill (or of each); per skill, what
    happened or the refusal's code."""
    market = _market(svc)
    if body.name is not None:
        market.entry(body.name)
    names = [body.name] if body.name else [e.name for e in market.installed() if e.verified]
    results: list[UpdateResult] = []
    for name in names:
        try:
            done = await market.install(name, who.id, min_age_hours=body.min_age_hours)
            results.append(UpdateResult(name=name, installed=_out(done)))
        except NexflowError as exc:
            if body.name is not None:
                raise
            results.append(UpdateResult(name=name, error=exc.code, message=exc.message))
    return UpdateOut(results=results)


@router.get("/skills")
async def installed(svc: ServicesDep, _: AccountsAdmin) -> InstalledList:
    return InstalledList(skills=_market(svc).installed())


@router.delete("/skills/{name}")
async def remove(name: PathName, svc: ServicesDep, who: AccountsAdmin) -> LockedSkill:
    """Uninstall a registry skill (its lockfile entry and folder); returns what it was."""
    return await _market(svc).remove(name, who.id)


def _consent(entry: LockedSkill) -> ConsentOut:
    return ConsentOut(
        name=entry.name,
        version=entry.version,
        pending=entry.consent_pending,
        diff=entry.consent_diff.lines(),
        added=entry.consent_diff,
    )


@router.get("/skills/{name}/consent")
async def consent_diff(name: PathName, svc: ServicesDep, _: AccountsAdmin) -> ConsentOut:
    """What the installed version asks for beyond what was approved (empty: nothing)."""
    return _consent(_market(svc).entry(name))


@router.post("/skills/{name}/consent")
async def consent(name: PathName, svc: ServicesDep, who: AccountsAdmin) -> ConsentOut:
    """Approve the pending difference; the skill runs again (audited)."""
    before = _market(svc).entry(name)
    await _market(svc).consent(name, who.id)
    return _consent(before)


@router.get("/keys")
async def keys(
    svc: ServicesDep,
    _: AccountsAdmin,
    registry: Annotated[str | None, Query(max_length=2000)] = None,
) -> KeyList:
    return KeyList(keys=[KeyOut(registry=registry, **vars(k)) for k in _market(svc).keys(registry)])


@router.post("/keys/trust")
async def trust(body: TrustIn, svc: ServicesDep, who: AccountsAdmin) -> KeyOut:
    """Pin a publisher's key explicitly (a rotation, or trust before first use)."""
    pin = await _market(svc).trust(body.publisher, body.public_key, body.registry, who.id)
    return KeyOut(registry=body.registry, **vars(pin))


@router.post("/keys/revoke")
async def revoke(body: RevokeIn, svc: ServicesDep, who: AccountsAdmin) -> RevokedOut:
    """Revoke a pinned key: installs it signed are refused, and installed skills it signed
    are no longer `publisher_verified`."""
    kid = await _market(svc).revoke(body.publisher, body.key, body.registry, who.id)
    return RevokedOut(publisher=body.publisher, key_id=kid)


@router.get("/log")
async def log(
    svc: ServicesDep,
    _: AccountsAdmin,
    registry: Annotated[str | None, Query(max_length=2000)] = None,
) -> LogStatus:
    """The registry's checkpoint (size, root) verified under the pinned log key and whether
    it extends the last one an install here saw (`consistent`, else `problem`)."""
    return await _market(svc).log_status(registry)


RegistryParam = Annotated[str | None, Query(max_length=2000)]
"""the registry's base URL; default: the `marketplace.registry_url` setting"""


@router.get("/search")
async def search(
    svc: ServicesDep,
    _: AccountsAdmin,
    q: Annotated[str, Query(max_length=200)] = "",
    tag: Annotated[str | None, Query(max_length=64)] = None,
    registry: RegistryParam = None,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    cursor: Annotated[str | None, Query(pattern=r"^[0-9]{1,7}$")] = None,
) -> BrowseResults:
    """Search a registry by name, tag and description text (`q`), optionally only packages
    carrying `tag`; a page of `limit`, the next at the answer's `next_cursor`. 503
    `registry_unavailable`, 502 `registry_bad_answer` (malformed or oversized)."""
    return await _market(svc).search(registry, q, tag or None, limit, cursor)


@router.get("/packages/{name}")
async def package(
    name: Annotated[str, Path(max_length=64, pattern=r"^[a-z0-9][a-z0-9-]{0,63}$")],
    svc: ServicesDep,
    _: AccountsAdmin,
    registry: RegistryParam = None,
) -> PackageDetail:
    """A registry package's page: its versions (yanked, removed with the reason), what its
    latest version asks for, its scan verdict and findings, its signature as this home's
    trust store judges it, and what is installed here. 404 `package_not_found`."""
    return await _market(svc).package(registry, name)
