"""The gateway's error tree, mapped to `{"error": code, "message": ...}` at the HTTP edge.

GatewayError
├── SessionNotFound          404 session_not_found
├── NoteNotFound             404 note_not_found
├── ControlPlaneUnavailable  503 control_plane_unavailable (skill list could not be read)
├── ControlPlaneRefused      the control plane's own code and status (`identity_not_linked`,
│                            `nonce_used`, ...), passed on
├── StoreUnavailable         503 store_unavailable (the chat database)
└── Unauthenticated          401 unauthenticated
"""

from __future__ import annotations


class GatewayError(Exception):
    code = "internal_error"
    status = 500

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class SessionNotFound(GatewayError):
    code = "session_not_found"
    status = 404


class ControlPlaneUnavailable(GatewayError):
    code = "control_plane_unavailable"
    status = 503


class ControlPlaneRefused(GatewayError):
    """The control plane answered with an error: its stable code, message and status."""

    def __init__(self, code: str, message: str, status: int) -> None:
        super().__init__(message)
        self.code = code
        self.status = status


class Unauthenticated(GatewayError):
    code = "unauthenticated"
    status = 401


class NoteNotFound(GatewayError):
    code = "note_not_found"
    status = 404


class StoreUnavailable(GatewayError):
    code = "store_unavailable"
    status = 503
