"""One chat turn for a caller, whichever edge asked (HTTP or the web socket): the session
checked as the caller's, then the turn run and stored (`conversation.stored_turn`)."""

from __future__ import annotations

from ..connectors.text import shown
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
        `on_session` hears the session's id before the turn runs, once a named session is
        known to be the caller's (checked by the read of its history, before any command
        or model call: one database round trip for both). A command's requests are made
        with the caller's own credential, like their model turns' skill calls."""
        sid = session_id or new_session_id()
        frame = {"type": "session", "session_id": sid}
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
            existing=session_id is not None,
            ready=None if on_session is None else lambda: on_session(frame),
        )
        return ChatReply(
            session_id=sid,
            reply=shown(turn.reply),  # as every channel shows it: no controls or escapes
            calls=turn.calls,
            pending_approvals=turn.pending_approvals,
            stop_reason=turn.stop_reason,
            model=turn.model,
            usage=turn.usage,
            session_usage=totals.usage,
        )
