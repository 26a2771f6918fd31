"""The web chat's typed edge: what `POST /api/v1/chat` takes and every answer's shape."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel, ConfigDict, Field

from ..connectors import MAX_MESSAGE_CHARS
from ..turns import CallRecord, PendingApproval, StopReason, Turn, Usage


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: str = Field(min_length=1, max_length=MAX_MESSAGE_CHARS)
    session_id: str | None = Field(None, max_length=64, pattern=r"^s_[0-9a-f]{24}$")


class ChatReply(BaseModel):
    session_id: str
    reply: str
    calls: list[CallRecord]
    pending_approvals: list[PendingApproval]
    stop_reason: StopReason
    usage: Usage = Field(description="this turn's tokens and cost")
    session_usage: Usage = Field(description="the session's tokens and cost so far")


class SessionSummary(BaseModel):
    id: str
    created_at: datetime
    updated_at: datetime
    turns: int
    usage: Usage


class SessionList(BaseModel):
    sessions: list[SessionSummary]
    note: str = "sessions are held in memory: a restart forgets them"


class SessionDetail(SessionSummary):
    history: list[Turn]


class ErrorOut(BaseModel):
    error: str
    message: str
    field: str | None = None
