"""The control plane's error tree; each error knows its HTTP status and stable code.

    NexflowError
    ├── Unauthenticated            401 unauthenticated / token_expired / token_revoked /
    │                                  user_disabled / login_failed / session_expired
    ├── CsrfFailed                 403 csrf_failed (a cookie-authenticated unsafe request
    │                                  without the session's CSRF token, or cross-origin)
    ├── Forbidden                  403 forbidden
    │   ├── InsufficientScope      403 insufficient_scope (+ scope)
    │   ├── PolicyDenied           403 policy_denied (+ reasons)
    │   ├── IdentityNotLinked      403 identity_not_linked (+ identity: a chat sender
    │   │                              no user is linked to; pair it first)
    │   ├── NonceInvalid           403 nonce_invalid (a press whose nonce is unknown,
    │   │                              expired, or minted for another approval or chat)
    │   └── ApprovalRequired       403 approval_required (+ reasons; no longer raised
    │                                  for calls: they get 202 pending_approval)
    ├── NotFound                   404 not_found / skill_not_found / call_not_found /
    │                                  user_not_found / token_not_found / identity_not_found /
    │                                  pairing_not_found
    ├── InvalidInput               422 invalid_input (+ field, errors) / scope_conflict /
    │                                  invalid_identity / invalid_channel
    ├── PayloadTooLarge            413 payload_too_large
    ├── NotExecutable              409 skill_not_executable
    ├── Conflict                   409 conflict / user_exists / identity_already_linked /
    │                                  approval_not_pending / nonce_used /
    │                                  pairing_not_pending
    ├── TooManyRequests            429 login_rate_limited (+ retry_after_s) /
    │                                  pairing_rate_limited / pairing_limit
    ├── InternalError              500 internal_error (a fault of ours; + call_id when a
    │                                  call had begun: its story ends in call.failed)
    └── Unavailable                503 *_unavailable (fail closed)
        ├── AuditUnavailable       503 audit_unavailable
        ├── ApprovalsUnavailable   503 approvals_unavailable
        ├── PolicyUnavailable      503 policy_unavailable
        ├── ExecutorUnavailable    503 executor_unavailable
        ├── AccountsUnavailable    503 accounts_unavailable
        └── GatewayUnavailable     503 gateway_unavailable (the chat routes' gateway)

Routes raise these; one handler in `api.errors` turns them into
`{"error": code, "message": ..., **extra}`. Lower libraries' errors (gRPC, SQLAlchemy,
regopy) are mapped at their boundary modules and never reach a route.
"""

from __future__ import annotations

from typing import Any


class NexflowError(Exception):
    status = 500
    code = "internal_error"

    def __init__(self, message: str, *, code: str | None = None, **extra: Any) -> None:
        super().__init__(message)
        self.message = message
        if code is not None:
            self.code = code
        self.extra = extra

    def body(self) -> dict[str, Any]:
        return {"error": self.code, "message": self.message, **self.extra}


class Unauthenticated(NexflowError):
    status, code = 401, "unauthenticated"


class Forbidden(NexflowError):
    status, code = 403, "forbidden"


class CsrfFailed(Forbidden):
    code = "csrf_failed"


class TooManyRequests(NexflowError):
    status, code = 429, "too_many_requests"


class InsufficientScope(Forbidden):
    code = "insufficient_scope"

    def __init__(self, scope: str) -> None:
        scope = str(scope)  # a Scope member reads as its string, never as its repr
        super().__init__(f"this token lacks the '{scope}' scope", scope=scope)


class PolicyDenied(Forbidden):
    code = "policy_denied"


class IdentityNotLinked(Forbidden):
    code = "identity_not_linked"


class NonceInvalid(Forbidden):
    code = "nonce_invalid"


class ApprovalRequired(Forbidden):
    code = "approval_required"


class NotFound(NexflowError):
    status, code = 404, "not_found"


class InvalidInput(NexflowError):
    status, code = 422, "invalid_input"


class PayloadTooLarge(NexflowError):
    status, code = 413, "payload_too_large"


class NotExecutable(NexflowError):
    status, code = 409, "skill_not_executable"


class Conflict(NexflowError):
    status, code = 409, "conflict"


class InternalError(NexflowError):
    status, code = 500, "internal_error"


class Unavailable(NexflowError):
    status, code = 503, "unavailable"


class AuditUnavailable(Unavailable):
    code = "audit_unavailable"


class ApprovalsUnavailable(Unavailable):
    code = "approvals_unavailable"


class PolicyUnavailable(Unavailable):
    code = "policy_unavailable"


class ExecutorUnavailable(Unavailable):
    code = "executor_unavailable"


class AccountsUnavailable(Unavailable):
    code = "accounts_unavailable"


class GatewayUnavailable(Unavailable):
    code = "gateway_unavailable"
