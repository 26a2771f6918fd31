"""The decision the control plane enforces, parsed strictly from the policy's output.

Anything that does not have exactly the documented shape becomes a deny with the reason
code ``policy_undefined``: a policy bug must never widen what a skill may do.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, cast

POLICY_UNDEFINED = "policy_undefined"
MALFORMED_INPUT = "malformed_input"

Mode = Literal["ro", "rw"]
_SECRET_NAME = re.compile(r"^[a-z][a-z0-9_]{0,62}$")  # as skills.SECRET_NAME
_LIMIT_FIELDS = ("wall_time_ms", "cpu_time_ms", "memory_bytes", "pids", "output_bytes")
# The widths of the executor's Limits fields (executor.proto): a larger grant is a bug.
_LIMIT_MAX = {
    "wall_time_ms": 2**32 - 1,
    "cpu_time_ms": 2**32 - 1,
    "memory_bytes": 2**63 - 1,
    "pids": 2**32 - 1,
    "output_bytes": 2**63 - 1,
}


class DecisionFormatError(ValueError):
    """The policy's output does not have the documented decision shape."""


@dataclass(frozen=True, slots=True)
class Reason:
    """Why a call was denied or needs approval; ``code`` is stable and audited."""

    code: str
    message: str


@dataclass(frozen=True, slots=True)
class FilesystemGrant:
    """A directory the sandbox may mount, read-only or read-write."""

    path: str
    mode: Mode


@dataclass(frozen=True, slots=True)
class Limits:
    """Resource limits for one call (milliseconds, bytes, process count)."""

    wall_time_ms: int
    cpu_time_ms: int
    memory_bytes: int
    pids: int
    output_bytes: int


@dataclass(frozen=True, slots=True)
class Grants:
    """What the sandbox may use; empty (and ``limits`` None) when the call is denied."""

    filesystem: tuple[FilesystemGrant, ...] = ()
    network: tuple[str, ...] = ()
    limits: Limits | None = None
    secrets: tuple[str, ...] = ()
    """The names of the secrets this call may receive (SKILL.md `secrets:`, granted)."""


@dataclass(frozen=True, slots=True)
class Decision:
    """One policy decision; ``revision`` names the policy bundle that made it."""

    allow: bool
    require_approval: bool
    reasons: tuple[Reason, ...]
    grants: Grants
    revision: str

    @property
    def codes(self) -> tuple[str, ...]:
        """The reason codes, in the policy's order."""
        return tuple(reason.code for reason in self.reasons)

    @classmethod
    def deny(cls, code: str, message: str, revision: str) -> Decision:
        """A deny that grants nothing, for failures outside the policy itself."""
        return cls(False, False, (Reason(code, message),), Grants(), revision)


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise DecisionFormatError(message)


def _object(value: Any, keys: tuple[str, ...], where: str) -> Mapping[str, Any]:
    _expect(isinstance(value, dict), f"{where} is not an object")
    obj = cast(dict[str, Any], value)
    _expect(set(obj) == set(keys), f"{where} has keys {sorted(obj)}, expected {sorted(keys)}")
    return obj


def _string(value: Any, where: str) -> str:
    _expect(isinstance(value, str) and value != "", f"{where} is not a non-empty string")
    return cast(str, value)


def _array(value: Any, where: str) -> list[Any]:
    _expect(isinstance(value, list), f"{where} is not an array")
    return cast(list[Any], value)


def _reason(value: Any) -> Reason:
    obj = _object(value, ("code", "message"), "reason")
    return Reason(_string(obj["code"], "reason.code"), _string(obj["message"], "reason.message"))


def _filesystem_grant(value: Any) -> FilesystemGrant:
    obj = _object(value, ("path", "mode"), "filesystem grant")
    path = _string(obj["path"], "filesystem grant path")
    _expect(path.startswith("/"), "filesystem grant path is not absolute")
    mode = obj["mode"]
    _expect(mode in ("ro", "rw"), "filesystem grant mode is not ro or rw")
    return FilesystemGrant(path, cast(Mode, mode))


def _limit(obj: Mapping[str, Any], name: str) -> int:
    """A positive int that fits the executor's field; an integral float counts as its int
    (rego-cpp keeps the 64.0 of an input where OPA answers 64)."""
    value = obj[name]
    if type(value) is float and value.is_integer():
        value = int(value)
    ok = type(value) is int and 0 < value <= _LIMIT_MAX[name]
    _expect(ok, f"grants.limits.{name} is not a positive int up to {_LIMIT_MAX[name]}")
    return cast(int, value)


def _limits(value: Any) -> Limits | None:
    _expect(isinstance(value, dict), "grants.limits is not an object")
    if not value:
        return None
    obj = _object(value, _LIMIT_FIELDS, "grants.limits")
    return Limits(**{name: _limit(obj, name) for name in _LIMIT_FIELDS})


def _secret_grant(value: Any) -> str:
    _expect(isinstance(value, str) and _SECRET_NAME.match(value) is not None, "bad secret grant")
    return cast(str, value)


def _grants(value: Any) -> Grants:
    # `secrets` may be absent: a policy written before secrets existed grants none.
    keys = ("filesystem", "network", "limits")
    has_secrets = isinstance(value, dict) and "secrets" in value
    obj = _object(value, (*keys, "secrets") if has_secrets else keys, "grants")
    filesystem = tuple(_filesystem_grant(g) for g in _array(obj["filesystem"], "grants.filesystem"))
    network = tuple(_string(h, "network grant") for h in _array(obj["network"], "grants.network"))
    secrets = tuple(_secret_grant(n) for n in _array(obj.get("secrets", []), "grants.secrets"))
    _expect(len(set(secrets)) == len(secrets), "grants.secrets names a secret twice")
    return Grants(filesystem, network, _limits(obj["limits"]), tuple(sorted(secrets)))


def parse_decision(value: Any, revision: str) -> Decision:
    """Parse the value of ``data.nexflow.authz.decision``; raise DecisionFormatError."""
    obj = _object(value, ("allow", "require_approval", "reasons", "grants"), "decision")
    allow, require_approval = obj["allow"], obj["require_approval"]
    _expect(type(allow) is bool, "decision.allow is not a boolean")
    _expect(type(require_approval) is bool, "decision.require_approval is not a boolean")
    _expect(not (allow and require_approval), "decision both allows and requires approval")
    reasons = tuple(_reason(r) for r in _array(obj["reasons"], "decision.reasons"))
    grants = _grants(obj["grants"])
    if allow or require_approval:
        _expect(grants.limits is not None, "a permitted call has no limits")
    else:
        _expect(len(reasons) > 0, "a denied call has no reason")
        _expect(grants == Grants(), "a denied call has grants")
    _expect(not require_approval or len(reasons) > 0, "an approval has no reason")
    return Decision(bool(allow), bool(require_approval), reasons, grants, revision)


def decision_or_undefined(value: Any, revision: str) -> Decision:
    """Parse the policy output, turning anything malformed into a ``policy_undefined`` deny."""
    try:
        return parse_decision(value, revision)
    except DecisionFormatError as exc:
        return Decision.deny(
            POLICY_UNDEFINED, f"the policy returned no valid decision: {exc}", revision
        )
