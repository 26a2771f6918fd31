"""The install client's errors, mapped to the control plane's (a stable code each).

release_not_found, skill_not_installed, key_not_pinned           404
bad_skill_spec, bad_public_key, registry_required, skill_invalid  422
version_too_new, skill_name_taken, consent_not_pending            409
every verification refusal (digest_mismatch, signature_invalid, scan_blocked,
  key_untrusted, key_revoked, inclusion_invalid, log_forked, ...) 409
registry_unreachable, registry_bad_answer                         424
"""

from __future__ import annotations

from nexflow_registry.client import ClientError

from ..errors import NexflowError

_STATUS = {
    "release_not_found": 404,
    "key_not_pinned": 404,
    "bad_skill_spec": 422,
    "bad_public_key": 422,
    "bad_registry_url": 422,
    "registry_unreachable": 424,
    "registry_bad_answer": 424,
    "trust_store_bad": 500,
}


class MarketplaceError(NexflowError):
    def __init__(self, status: int, message: str, *, code: str) -> None:
        super().__init__(message, code=code)
        self.status = status


def mapped(exc: ClientError) -> MarketplaceError:
    return MarketplaceError(_STATUS.get(exc.code, 409), exc.message, code=exc.code)
