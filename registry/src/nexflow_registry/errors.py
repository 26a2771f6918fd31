"""The registry's errors: one tree, each with a stable code and an HTTP status.

    RegistryError
    ├── BadRequest (400)      bad_archive codes (archive_*), bad_manifest, bad_version, ...
    ├── SignatureInvalid (400)  signature_invalid, key_unknown
    ├── Unauthorized (401) / Forbidden (403)
    ├── NotFound (404)
    ├── Conflict (409)        version_exists, name_taken, held_for_review
    ├── Gone (410)            removed (the reason in the message)
    ├── BlobCorrupt (502)     a stored blob no longer matches its digest
    └── RegistryUnavailable (503)

The HTTP layer turns each into `{"error": code, "message": ...}`; nothing else reaches a client.
"""

from __future__ import annotations


class RegistryError(Exception):
    status = 400
    code = "bad_request"

    def __init__(
        self, message: str, *, code: str | None = None, extra: dict[str, object] | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.extra = extra or {}
        """more fields of the error body (e.g. a refused scan's findings)"""
        if code is not None:
            self.code = code


class BadRequest(RegistryError):
    pass


class ArchiveRefused(BadRequest):
    """A hostile or malformed archive; `code` names the check, `entry` the member."""

    def __init__(self, code: str, entry: str, message: str) -> None:
        super().__init__(f"{entry!r}: {message}", code=code)
        self.entry = entry


class SignatureInvalid(RegistryError):
    code = "signature_invalid"


class Unauthorized(RegistryError):
    status = 401
    code = "unauthorized"


class Forbidden(RegistryError):
    status = 403
    code = "forbidden"


class NotFound(RegistryError):
    status = 404
    code = "not_found"


class Conflict(RegistryError):
    status = 409
    code = "conflict"


class Gone(RegistryError):
    status = 410
    code = "removed"


class BlobCorrupt(RegistryError):
    status = 502
    code = "blob_corrupt"


class RegistryUnavailable(RegistryError):
    status = 503
    code = "registry_unavailable"
