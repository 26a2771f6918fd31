"""One chat turn for a caller, whichever edge asked (HTTP or the web socket): the session
checked as the caller's, then the turn run and stored (`conversation.stored_turn`)."""

from __future__ import annotations

from ..control_plane import ControlPlane
from ..conversation import stored_turn
from ..llm import Agent
from ..llm.loop import Emit
from ..settings import Settings
from ..store import Owner, SessionStore, new_session_id
from .callers import Caller
from .schemas import ChatReply


class ChatService:
    def __init__(
        self, settings: Settings, sessions: SessionStore, agent: Agent, cp: ControlPlane
    ) -> None:
        self._settings = settings
        self._sessions = sessions
        self._agent = agent
        self._cp = cp

    async def turn(
        self,
        caller: Caller,
        message: str,
        session_id: str | None,
        emit: Emit | None = None,
        *,
        on_session: Emit | None = None,
    ) -> ChatReply:
        """Run one turn in `session_id` (the caller's own, else 404) or a new session;
        `on_session` hears the session's id before the turn runs. A command's requests are
        made with the caller's own credential, like their model turns' skill calls."""
        if session_id is not None:
            await self._sessions.summary(session_id, caller.user_id)
        sid = session_id or new_session_id()
        if on_session is not None:
            on_session({"type": "session", "session_id": sid})
        turn, totals = await stored_turn(
            self._settings,
            self._sessions,
            self._agent,
            sid,
            Owner(user_id=caller.user_id),
            message,
            commands=self._cp.with_credential(caller.credential),
            as_user=caller.credential,
            emit=emit,
        )
        return ChatReply(
            session_id=sid,
            reply=turn.reply,
            calls=turn.calls,
            pending_approvals=turn.pending_approvals,
            stop_reason=turn.stop_reason,
            model=turn.model,
            usage=turn.usage,
            session_usage=totals.usage,
        )
