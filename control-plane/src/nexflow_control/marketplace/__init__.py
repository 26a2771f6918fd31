"""Skills installed from a registry: the verified install path on the runtime's side.

    Marketplace(home, audit, base_sources, on_catalog)   install / update / remove /
        consent / trust / revoke, each audited, the catalog reloaded live after it
    load_catalog(base_sources, home)   the catalog with installed releases, marked
        `verified_publisher` / `consent_pending` from `skills.lock`
    prune(home)                        drop release folders the lockfile no longer names
    Marketplace.search / .package      browse a registry (read only, bounded answers)

The verification itself (digest, signature, log proofs, trust store) is the registry
package's client (`nexflow_registry.client`); this package places, locks and audits.
"""

from ._base import load_catalog
from ._browse_models import BrowseResults, PackageDetail
from ._errors import MarketplaceError
from ._lock import LockedSkill, Lockfile, LockfileBroken
from ._request import SkillRequest, added, request_of
from ._service import Installed, Marketplace
from ._sources import INSTALLED, prune

__all__ = [
    "INSTALLED",
    "BrowseResults",
    "Installed",
    "LockedSkill",
    "Lockfile",
    "LockfileBroken",
    "Marketplace",
    "MarketplaceError",
    "PackageDetail",
    "SkillRequest",
    "added",
    "load_catalog",
    "prune",
    "request_of",
]
