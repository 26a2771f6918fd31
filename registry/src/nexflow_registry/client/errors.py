"""The install client's errors: one tree, each with a stable code.

    ClientError                 bad_registry_url, bad_skill_spec, bad_public_key,
    │                           key_not_pinned, trust_store_bad
    ├── RegistryUnreachable     registry_unreachable (network, timeout, an error status)
    │   └── RegistryBadAnswer   registry_bad_answer (malformed, or over the size bound)
    ├── ReleaseNotFound         release_not_found (no such package or version)
    ├── VersionTooNew           version_too_new (younger than the cooldown, not pinned)
    └── VerificationFailed      the registry's answer does not prove itself; nothing is unpacked
            digest_mismatch, entry_mismatch, signature_invalid, manifest_mismatch,
            key_untrusted, key_revoked, inclusion_invalid, checkpoint_invalid (also: the
            registry's log key is not the pinned one), log_rewound, log_forked,
            rotation_invalid (a claimed key rotation the log does not prove),
            archive_* (the safe unpacker's codes)

A caller maps these at its boundary (the control plane: HTTP 404 / 409 / 422 / 424).
"""

from __future__ import annotations


class ClientError(Exception):
    code = "registry_client_error"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code


class RegistryUnreachable(ClientError):
    code = "registry_unreachable"


class RegistryBadAnswer(RegistryUnreachable):
    code = "registry_bad_answer"


class ReleaseNotFound(ClientError):
    code = "release_not_found"


class VersionTooNew(ClientError):
    code = "version_too_new"


class VerificationFailed(ClientError):
    code = "verification_failed"
