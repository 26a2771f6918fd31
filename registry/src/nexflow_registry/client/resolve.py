"""Which version `NAME[@VERSION]` means: pure, over the registry's list of versions.

No version: the highest one not yanked (and, with a cooldown, old enough). An exact version
or `sha256:<digest>` is taken as pinned: yanked versions and young ones are installable so.
Only semantic versions count (anything else a registry lists is ignored: a version becomes
part of a folder name).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from .. import semver
from ..errors import RegistryError
from ..models import PackageOut, VersionBrief
from .errors import ClientError, ReleaseNotFound, VersionTooNew

NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
VERSION = re.compile(r"^[0-9A-Za-z.+-]{1,128}$")
DIGEST = re.compile(r"^sha256:[0-9a-f]{64}$")


@dataclass(frozen=True)
class Spec:
    name: str
    pin: str | None
    """an exact version, `sha256:<hex>`, or None (the latest)"""

    def __str__(self) -> str:
        return f"{self.name}@{self.pin}" if self.pin else self.name


def parse_spec(text: str) -> Spec:
    name, _, pin = text.partition("@")
    if len(name) > 64 or not NAME.match(name):
        raise ClientError(f"{name[:70]!r} is not a skill name", code="bad_skill_spec")
    if pin and not (DIGEST.match(pin) or VERSION.match(pin)):
        raise ClientError(f"{pin[:70]!r} is not a version or sha256:DIGEST", code="bad_skill_spec")
    return Spec(name, pin or None)


def _created(brief: VersionBrief) -> datetime:
    at = datetime.fromisoformat(brief.created_at)
    return at if at.tzinfo else at.replace(tzinfo=UTC)


def _key(brief: VersionBrief) -> tuple[object, ...]:
    try:
        return (1, semver.parse(brief.version).key())
    except RegistryError:
        return (0, brief.version)


def resolve(
    package: PackageOut, spec: Spec, *, min_age_hours: float = 0, now: datetime | None = None
) -> str:
    """The version `spec` names in `package`."""
    if spec.pin is not None:
        for brief in package.versions:
            if spec.pin in (brief.version, f"sha256:{brief.digest}") and _key(brief)[0] == 1:
                return brief.version
        raise ReleaseNotFound(f"{package.name} has no version {spec.pin}")
    live = sorted(
        (b for b in package.versions if not b.yanked and _key(b)[0] == 1), key=_key, reverse=True
    )
    if not live:
        raise ReleaseNotFound(f"every version of {package.name} is yanked")
    cutoff = (now or datetime.now(UTC)) - timedelta(hours=min_age_hours)
    for brief in live:
        if min_age_hours <= 0 or _created(brief) <= cutoff:
            return brief.version
    raise VersionTooNew(
        f"every version of {package.name} is younger than {min_age_hours:g} hours; "
        f"pin one exactly ({package.name}@{live[0].version}) to install it anyway"
    )
