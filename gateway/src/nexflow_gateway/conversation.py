"""One stored chat turn, whichever edge it came from (web chat, Telegram, Discord): a
command (or, with no model, a help) answered by the gateway itself (`commands`), else the
session's history read, the persona files joined and the model's loop run; then the turn
stored with its messages, tool steps and costs, all under the session's lock."""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Mapping

from .commands import command_turn
from .control_plane import ControlPlane
from .llm import Agent
from .llm.loop import Emit
from .llm.persona import read_persona
from .settings import Settings
from .store import Owner, SessionStore, SessionSummary
from .turns import Turn


def chat_session_id(channel: str, chat_id: str, user_id: str) -> str:
    """The one session of `user_id` in a channel's chat: the same id at every message and
    after a restart (it names no secret; the web API still checks the session's owner)."""
    digest = hashlib.sha256(f"{channel}\0{chat_id}\0{user_id}".encode()).hexdigest()
    return "s_" + digest[:24]


async def stored_turn(
    settings: Settings,
    sessions: SessionStore,
    agent: Agent,
    session_id: str,
    owner: Owner,
    message: str,
    *,
    commands: ControlPlane,
    as_user: Mapping[str, str] | None = None,
    emit: Emit | None = None,
    existing: bool = False,
    ready: Callable[[], None] | None = None,
) -> tuple[Turn, SessionSummary]:
    """Run `message` as the next turn of `session_id` and store it; the turn and the
    session's new totals. `commands` is the control-plane client acting for the person
    (their commands' requests are theirs); a command never reaches `agent`. `existing`:
    the session was named by the caller, so it must already be `owner`'s
    (`SessionNotFound` before anything runs), checked by the read of its history;
    `ready` is called once it is, before the turn runs."""
    async with sessions.lock(session_id):
        history = await sessions.history(
            session_id,
            settings.llm.history_turns,
            owned_by=owner.user_id if existing else None,
        )
        if ready is not None:
            ready()
        turn = await command_turn(settings, commands, owner.user_id, message)
        if turn is None:
            turn = await agent.turn(
                history,
                message,
                context=read_persona(settings.home, settings.gateway.persona_max_bytes),
                as_user=as_user,
                emit=emit,
            )
        totals = await sessions.record(session_id, owner, turn)
    return turn, totals
