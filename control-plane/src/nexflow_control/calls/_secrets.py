"""A dispatched call's secrets: read the granted values, audit the reading, and build the
redactor its output goes through.

`granted_secrets` runs just before `call.dispatched` is committed. A granted secret that
the store does not hold, or a store that cannot be read, ends the call there: `leading`
and `call.failed` (`secret_missing` / `secrets_unavailable`) are committed and the error
is raised; nothing runs. A granted secret the skill declares optional (SKILL.md
`optional_secrets:`) that is not stored, or a control plane without a store, is simply
not delivered: the skill runs without it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from .. import audit as audit_mod
from ..errors import Conflict, NexflowError
from ..executors import ExecutionSpec
from ..secrets import Redactor, SecretsUnavailable
from ._context import CallContext, CallParts

Commit = Callable[[list[audit_mod.AuditEvent]], Awaitable[None]]


class SecretMissing(Conflict):
    code = "secret_missing"


async def granted_secrets(
    parts: CallParts,
    ctx: CallContext,
    names: tuple[str, ...],
    leading: list[audit_mod.AuditEvent],
    commit: Commit,
) -> tuple[dict[str, str], list[audit_mod.AuditEvent]]:
    """(value by name, one `secret.read` event per secret) for the granted `names`."""
    optional = set(ctx.skill.optional_secrets)
    if parts.secrets is None:
        names = tuple(n for n in names if n not in optional)
    if not names:
        return {}, []
    try:
        if parts.secrets is None:
            raise SecretsUnavailable("this control plane has no secret store")
        revealed, absent = await parts.secrets.reveal(names)
        missing = [n for n in absent if n not in optional]
        if missing:
            raise SecretMissing(
                f"the policy grants secret(s) {', '.join(missing)} but none is stored; "
                "set it with `nexflow secret set`",
                missing=missing,
            )
    except NexflowError as exc:
        await commit(
            [
                *leading,
                ctx.event(
                    "call.failed",
                    decision="error",
                    reason_codes=[exc.code],
                    payload={"error": exc.code, "message": exc.message},
                ),
            ]
        )
        exc.extra.setdefault("call_id", ctx.call_id)
        raise
    reads = [
        ctx.event("secret.read", payload={"name": r.name, "version": r.version}) for r in revealed
    ]
    return {r.name: r.value for r in revealed}, reads


def redactor(spec: ExecutionSpec) -> Redactor:
    """What takes the call's own secret values out of its output."""
    return Redactor(spec.secrets)
