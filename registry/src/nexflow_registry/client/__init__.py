"""The verifying install client: resolve, download and prove a release before it unpacks.

    spec = parse_spec("echo@1.0.0")
    trust = TrustStore.load(home)
    async with RegistryClient(url) as client:
        verified = await fetch_verified(client, trust, spec, min_age_hours=0)
    unpack_verified(verified, dest)
    trust.save()

Errors: `ClientError` and its tree in `errors` (stable codes).
"""

from .errors import (
    ClientError,
    RegistryBadAnswer,
    RegistryUnreachable,
    ReleaseNotFound,
    VerificationFailed,
    VersionTooNew,
)
from .fetch import RegistryClient
from .install import Verified, fetch_verified, unpack_verified
from .resolve import Spec, parse_spec, resolve
from .status import LogStatus, log_status
from .trust import KeyPin, TrustStore, normalize_url

__all__ = [
    "ClientError",
    "KeyPin",
    "LogStatus",
    "RegistryBadAnswer",
    "RegistryClient",
    "RegistryUnreachable",
    "ReleaseNotFound",
    "Spec",
    "TrustStore",
    "VerificationFailed",
    "Verified",
    "VersionTooNew",
    "fetch_verified",
    "log_status",
    "normalize_url",
    "parse_spec",
    "resolve",
    "unpack_verified",
]
