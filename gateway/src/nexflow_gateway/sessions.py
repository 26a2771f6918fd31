"""Chat sessions, held in memory for now: bounded in count (least recently used dropped
first) and in turns per session (oldest dropped first). A restart forgets them."""

from __future__ import annotations

import asyncio
import secrets
from collections import OrderedDict
from dataclasses import dataclass, field
from datetime import UTC, datetime

from .errors import SessionNotFound
from .turns import Turn, Usage


@dataclass
class Session:
    id: str
    created_at: datetime = field(default_factory=lambda: datetime.now(UTC))
    turns: list[Turn] = field(default_factory=list)
    usage: Usage = field(default_factory=Usage)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    @property
    def updated_at(self) -> datetime:
        return self.turns[-1].at if self.turns else self.created_at


class SessionStore:
    def __init__(self, max_sessions: int, max_turns: int) -> None:
        self._sessions: OrderedDict[str, Session] = OrderedDict()
        self._max_sessions = max_sessions
        self._max_turns = max_turns

    def new(self) -> Session:
        """A session that is kept once its first turn is recorded."""
        return Session(id="s_" + secrets.token_hex(12))

    def get(self, session_id: str) -> Session:
        session = self._sessions.get(session_id)
        if session is None:
            raise SessionNotFound(f"no session {session_id!r} (sessions are kept in memory)")
        self._sessions.move_to_end(session_id)
        return session

    def record(self, session: Session, turn: Turn) -> None:
        self._sessions[session.id] = session
        self._sessions.move_to_end(session.id)
        while len(self._sessions) > self._max_sessions:
            self._sessions.popitem(last=False)
        session.turns.append(turn)
        session.usage.add(turn.usage)
        del session.turns[: max(0, len(session.turns) - self._max_turns)]

    def all(self) -> list[Session]:
        """Most recently used first."""
        return list(reversed(self._sessions.values()))
