"""What a chat turn produced: the reply, each skill call, pending approvals, tokens and cost."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from .control_plane import Reason

StopReason = Literal["done", "step_limit", "timeout", "llm_error", "command"]
"""How a turn ended; `command`: the gateway answered it itself (`commands`), no model."""


class CallRecord(BaseModel):
    """One tool call the model asked for and what became of it."""

    tool_call_id: str
    tool: str = Field(description="the tool name the model used")
    skill: str | None = Field(None, description="the skill it maps to; null when unknown")
    status: str = Field(
        description="`succeeded`/`failed`/`killed` (it ran), `pending_approval`, "
        "`refused` (the control plane said no) or `rejected` (the gateway refused the call)"
    )
    call_id: str | None = None
    error: str | None = None
    message: str | None = None
    output: Any = Field(None, description="the skill's output, as text when over the bound")
    duration_ms: float = Field(0.0, description="the gateway's wait for the control plane")


class PendingApproval(BaseModel):
    """A call waiting for a human's approval: the model cannot approve it."""

    call_id: str
    approval_id: str
    skill: str
    reasons: list[Reason]
    expires_at: str | None = None


class Usage(BaseModel):
    """Tokens and cost as litellm reports them (cost 0 for a model it has no price for)."""

    llm_calls: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    cost_usd: float = 0.0

    def add(self, other: Usage) -> None:
        self.llm_calls += other.llm_calls
        self.prompt_tokens += other.prompt_tokens
        self.completion_tokens += other.completion_tokens
        self.total_tokens += other.total_tokens
        self.cost_usd += other.cost_usd


class Turn(BaseModel):
    """One user message and everything the gateway did to answer it."""

    message: str
    reply: str
    calls: list[CallRecord] = Field(default_factory=list)
    pending_approvals: list[PendingApproval] = Field(default_factory=list)
    stop_reason: StopReason = "done"
    usage: Usage = Field(default_factory=Usage)
    model: str | None = Field(None, description="the model routing chose for this turn")
    at: datetime = Field(default_factory=lambda: datetime.now(UTC))
    # The messages as the model saw them (assistant tool calls, tool results), for the
    # next turns' context; not part of any answer.
    transcript: list[dict[str, Any]] = Field(default_factory=list, exclude=True)
