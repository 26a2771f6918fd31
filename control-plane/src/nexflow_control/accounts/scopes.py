"""What an API token may do: scopes, checked by each route before anything else.

Scopes limit the *token*; roles (policy data) limit the *user*. A call runs only when
its token has `calls:run` and the policy allows the user's roles to run that skill.
The strings are part of the HTTP contract: never rename one.
"""

from __future__ import annotations

from enum import StrEnum


class Scope(StrEnum):
    CALLS_RUN = "calls:run"
    """Run skills (`POST /api/v1/skills/{name}`)."""
    CALLS_CANCEL = "calls:cancel"
    """Cancel anyone's running call (`POST /api/v1/calls/{id}/cancel`); without it, a
    token with `calls:run` cancels only its own user's calls. Never a default."""
    SKILLS_READ = "skills:read"
    """List and read skills."""
    AUDIT_READ = "audit:read"
    """Read the audit log, verify it, read a call's story."""
    APPROVALS_DECIDE = "approvals:decide"
    """Approve or deny calls waiting for a human. Never a default: a token an agent or a
    gateway holds must not be able to approve its own calls."""
    ACCOUNTS_ADMIN = "accounts:admin"
    """Manage users, their roles, tokens and identity links."""
    SECRETS_ADMIN = "secrets:admin"
    """Set, rotate, delete and list secrets (`/api/v1/secrets`; values go in, never out).
    Never a default."""
    CALLS_RUN_AS = "calls:run_as"
    """The chat gateway's: with `X-Nexflow-On-Behalf-Of: provider:subject` a request acts
    as the user that identity is linked to (that user's roles, `calls:run` and
    `skills:read` only); also asks for pairing codes and chat nonces. Never a default,
    never beside `approvals:decide` or `accounts:admin` on one token."""
    APPROVALS_RELAY = "approvals:relay"
    """Relay a human's button press from a chat (`POST /api/v1/approvals/{id}/press`):
    the control plane checks the one-time nonce and that the pressing identity is a
    linked approver; the token itself decides nothing. Never a default."""


ALL_SCOPES: frozenset[str] = frozenset(Scope)
"""Every scope; the bootstrap admin token has them all."""

GATEWAY_SCOPES: frozenset[str] = frozenset({Scope.CALLS_RUN_AS, Scope.APPROVALS_RELAY})
"""Scopes a chat gateway's token holds; a token with one of them may not also hold a
scope in `GATEWAY_EXCLUDED` (the gateway can never approve or administer)."""

GATEWAY_EXCLUDED: frozenset[str] = frozenset(
    {Scope.APPROVALS_DECIDE, Scope.ACCOUNTS_ADMIN, Scope.SECRETS_ADMIN}
)

DEFAULT_SCOPES: tuple[str, ...] = (Scope.CALLS_RUN, Scope.SKILLS_READ, Scope.AUDIT_READ)
"""What a new token gets when its creator names no scopes."""
