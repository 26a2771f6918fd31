"""Who may approve a pending call: the answer of ``data.nexflow.authz.approval``.

Parsed as strictly as the call decision: anything but ``{"allow": bool, "reasons": [...]}``
(with reasons exactly when it does not allow) is a ``policy_undefined`` refusal.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ._decision import POLICY_UNDEFINED, DecisionFormatError, Reason, _array, _object, _reason

APPROVER_ENTRYPOINT = "nexflow/authz/approval"
"""The rule asked before someone approves or denies a call: ``data.nexflow.authz.approval``."""


@dataclass(frozen=True, slots=True)
class ApproverDecision:
    """Whether one principal may decide one pending call; ``revision`` names the policy."""

    allow: bool
    reasons: tuple[Reason, ...]
    revision: str

    @property
    def codes(self) -> tuple[str, ...]:
        return tuple(reason.code for reason in self.reasons)

    @classmethod
    def refuse(cls, code: str, message: str, revision: str) -> ApproverDecision:
        return cls(False, (Reason(code, message),), revision)


def parse_approver(value: Any, revision: str) -> ApproverDecision:
    """Parse the value of ``data.nexflow.authz.approval``; raise DecisionFormatError."""
    obj = _object(value, ("allow", "reasons"), "approval")
    allow = obj["allow"]
    if type(allow) is not bool:
        raise DecisionFormatError("approval.allow is not a boolean")
    # Sorted: the engines may list a set's members in different orders.
    reasons = tuple(
        sorted(
            (_reason(r) for r in _array(obj["reasons"], "approval.reasons")), key=lambda r: r.code
        )
    )
    if allow == bool(reasons):
        raise DecisionFormatError("approval must allow with no reasons or refuse with some")
    return ApproverDecision(allow, reasons, revision)


def approver_or_undefined(value: Any, revision: str) -> ApproverDecision:
    """Parse the policy output; anything malformed (or undefined: None) is a refusal."""
    try:
        return parse_approver(value, revision)
    except DecisionFormatError as exc:
        return ApproverDecision.refuse(
            POLICY_UNDEFINED, f"the policy returned no valid approval answer: {exc}", revision
        )
