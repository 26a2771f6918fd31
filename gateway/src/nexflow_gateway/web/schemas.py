"""The web chat's typed edge: what the routes take and every answer's shape."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from ..connectors import MAX_MESSAGE_CHARS
from ..store import MAX_NOTE_CHARS, Note, SearchHit, SessionSummary
from ..turns import CallRecord, PendingApproval, StopReason, Turn, Usage

SESSION_ID = r"^s_[0-9a-f]{24}$"


class ChatRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    message: str = Field(min_length=1, max_length=MAX_MESSAGE_CHARS)
    session_id: str | None = Field(None, max_length=64, pattern=SESSION_ID)


class SocketMessage(BaseModel):
    """A frame the browser sends on `/ws/chat/{session}`."""

    model_config = ConfigDict(extra="forbid")

    message: str = Field(min_length=1, max_length=MAX_MESSAGE_CHARS)
    csrf: str | None = Field(
        None, max_length=256, description="the web session's CSRF token, for its skill calls"
    )


class ChatReply(BaseModel):
    session_id: str
    reply: str
    calls: list[CallRecord]
    pending_approvals: list[PendingApproval]
    stop_reason: StopReason
    model: str | None = Field(None, description="the model routing chose")
    usage: Usage = Field(description="this turn's tokens and cost")
    session_usage: Usage = Field(description="the session's tokens and cost so far")


class SessionList(BaseModel):
    sessions: list[SessionSummary]


class SessionDetail(SessionSummary):
    history: list[Turn]


class NewNote(BaseModel):
    model_config = ConfigDict(extra="forbid")

    text: str = Field(min_length=1, max_length=MAX_NOTE_CHARS)


class NoteList(BaseModel):
    notes: list[Note]


class SearchResult(BaseModel):
    hits: list[SearchHit]


class ErrorOut(BaseModel):
    error: str
    message: str
    field: str | None = None
