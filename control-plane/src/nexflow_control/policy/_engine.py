"""The interface every policy engine offers: embedded regopy, or an OPA server."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from ._approver import ApproverDecision
from ._decision import Decision

ENTRYPOINT = "nexflow/authz/decision"
"""The rule every engine evaluates: ``data.nexflow.authz.decision``."""


@dataclass(frozen=True, slots=True)
class ReloadResult:
    """What a reload did: on failure the previous bundle stays active and ``error`` says why."""

    ok: bool
    revision: str
    previous_revision: str
    error: str | None = None

    @property
    def changed(self) -> bool:
        """Whether a different policy bundle is now active."""
        return self.ok and self.revision != self.previous_revision


@runtime_checkable
class PolicyEngine(Protocol):
    """Decides skill calls.

    ``decide`` never raises for a bad input or a bad policy output (those become denies);
    it raises ``PolicyUnavailable`` when the engine itself fails, and callers fail closed.
    """

    @property
    def revision(self) -> str:
        """``sha256:<hex>`` of the active policy bundle."""
        ...

    async def decide(self, input: dict[str, Any]) -> Decision:
        """Evaluate ``data.nexflow.authz.decision`` for one call."""
        ...

    async def approve(self, input: dict[str, Any]) -> ApproverDecision:
        """Evaluate ``data.nexflow.authz.approval``: may ``input.principal`` decide
        ``input.request``? Refusals, not exceptions, for bad input; ``PolicyUnavailable``
        when the engine fails."""
        ...

    async def reload(self) -> ReloadResult:
        """Load the policy again; keep the active bundle if the new one does not compile."""
        ...

    async def close(self) -> None:
        """Release what the engine holds (connections); it decides nothing afterwards."""
        ...
