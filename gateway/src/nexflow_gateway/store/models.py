"""What the chat store gives back: session summaries, notes and search hits."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, Field

from ..turns import Usage


class Owner(BaseModel):
    """Whose a session is: the Nexflow user, and the channel (and chat) it came from."""

    user_id: str = Field(max_length=255)
    channel: str = Field("web", max_length=32)
    chat_id: str | None = Field(None, max_length=255)


class SessionSummary(BaseModel):
    id: str
    channel: str
    chat_id: str | None = None
    user_id: str | None = None
    created_at: datetime
    updated_at: datetime = Field(description="the last turn's time")
    turns: int
    usage: Usage


class Note(BaseModel):
    id: int
    text: str
    created_at: datetime


class SearchHit(BaseModel):
    kind: Literal["message", "note"]
    id: int
    text: str = Field(description="the matching text, cut to 500 characters")
    at: datetime
    session_id: str | None = None
    role: str | None = None
    score: float | None = Field(
        None, description="a note's rank by embedding (cosine, plus a bonus for a word match)"
    )
