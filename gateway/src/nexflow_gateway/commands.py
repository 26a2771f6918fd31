"""Chat commands, answered by the gateway itself in every channel, model or no model:

    /skills             the skills this person may run (`GET /api/v1/skills`, as them)
    /run NAME {json}    one call (`POST /api/v1/skills/NAME`, as them), like a tool call
    /status ID          one of their calls (`GET /api/v1/calls/ID`, as them)
    /help               these commands, and whether a model is configured

A command never reaches the model: it is read here, before any model call, and what it
answers is a `Turn` stored like any other (`conversation.stored_turn`). Its transcript is
empty, so a later model turn never reads a command's skill output as if the assistant
had said it. `/run` goes through the same `ControlPlane.run` and `loop.recorded` as a
model's tool call: a 202 becomes a `PendingApproval` the channels show with buttons and
follow, a refusal shows the control plane's code and message. Bad arguments get a usage
line, never a traceback.

Without a model, any other message is answered with a short help (`no_model_turn`).
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

from .control_plane import CallOutcome, ControlPlane
from .errors import ControlPlaneRefused
from .llm.loop import recorded
from .llm.tools import BadToolCall, parse_arguments
from .settings import Settings
from .turns import CallRecord, Turn

MAX_LISTED = 50
"""`/skills` lists at most this many skills (then says how many more)."""
MAX_DESCRIPTION = 120
MAX_SHOWN_OUTPUT = 3000
"""A call's output in a command's reply, characters (the stored record keeps the bound
the model's tool messages have)."""
_CALL_ID = re.compile(r"^[\w.\-:]{1,128}$")
_WORD = re.compile(r"\s*(\S+)(.*)\Z", re.DOTALL)
_NAME = re.compile(r"^[\w.\-]{1,128}$")

USAGE = {
    "/skills": "/skills: list the skills you can run",
    "/run": "/run NAME {json}: run skill NAME with a JSON object as input, "
    'e.g. /run echo {"message": "hi"}',
    "/status": "/status ID: how one of your calls went (the id /run shows, c_...)",
    "/help": "/help: these commands",
}
CONFIGURE_MODEL = (
    "To chat with a model, set NEXFLOW_LLM__MODEL (for example ollama_chat/llama3.1 with "
    "NEXFLOW_LLM__API_BASE=http://127.0.0.1:11434, or openai/gpt-4o-mini with "
    "NEXFLOW_LLM__API_KEY) and restart the gateway."
)


def command_of(message: str) -> tuple[str, str] | None:
    """`(command, arguments)` when `message` is one of the commands, else None (any other
    message, `/strong ...` included, is for the model)."""
    head, rest = _split(message)
    name = head.lower()
    return (name, rest) if name in USAGE else None


def _split(text: str) -> tuple[str, str]:
    """The first word of `text` and the rest, stripped (any whitespace separates)."""
    found = _WORD.match(text)
    return (found[1], found[2].strip()) if found else ("", "")


async def command_turn(
    settings: Settings, cp: ControlPlane, user_id: str, message: str
) -> Turn | None:
    """The gateway's own answer to `message` as a stored turn: a command's, or (no model
    configured) a help; None when the model answers it. `cp` acts for the person chatting,
    the user `user_id`."""
    found = command_of(message)
    if found is None:
        return None if settings.llm.model else no_model_turn(message)
    name, arguments = found
    turn = Turn(message=message, reply="", stop_reason="command")
    if name == "/skills":
        turn.reply = await _skills(cp)
    elif name == "/run":
        await _run(settings, cp, arguments, turn)
    elif name == "/status":
        turn.reply = await _status(cp, user_id, arguments)
    else:
        turn.reply = help_text(settings)
    return turn


def help_text(settings: Settings) -> str:
    lines = ["Commands (answered by Nexflow itself, never by a model):", *USAGE.values()]
    if settings.llm.model:
        lines.append(f"Any other message goes to the model ({settings.llm.model}).")
    else:
        lines.append("No model is configured, so only these commands are answered.")
        lines.append(CONFIGURE_MODEL)
    return "\n".join(lines)


def no_model_turn(message: str) -> Turn:
    reply = (
        "No model is configured for this gateway, so I answer only commands: /skills, "
        "/run NAME {json}, /status ID (/help says more). " + CONFIGURE_MODEL
    )
    return Turn(message=message, reply=reply, stop_reason="command")


async def _skills(cp: ControlPlane) -> str:
    try:
        listing = await cp.request("GET", "/api/v1/skills")
    except ControlPlaneRefused as exc:
        return f"The skills could not be listed ({exc.code}): {exc.message}"
    found = [s for s in listing.get("skills", []) if isinstance(s, dict) and s.get("executable")]
    found.sort(key=lambda s: str(s.get("name", "")))
    if not found:
        return "No skill is installed that you can run."
    lines = [f"{len(found)} skill(s) you can run (/run NAME {{json}}):"]
    for skill in found[:MAX_LISTED]:
        about = " ".join(str(skill.get("description", "")).split())
        if len(about) > MAX_DESCRIPTION:
            about = about[: MAX_DESCRIPTION - 1] + "…"
        lines.append(f"- {str(skill.get('name', ''))[:128]}: {about}")
    if len(found) > MAX_LISTED:
        lines.append(f"… and {len(found) - MAX_LISTED} more.")
    return "\n".join(lines)


async def _run(settings: Settings, cp: ControlPlane, arguments: str, turn: Turn) -> None:
    name, raw = _split(arguments)
    if not name:
        turn.reply = "Usage: " + USAGE["/run"]
        return
    if not _NAME.match(name):
        turn.reply = f"{name[:64]!r} is not a skill name. Usage: " + USAGE["/run"]
        return
    try:
        value = parse_arguments(raw, settings.llm.max_tool_argument_bytes)
    except BadToolCall as exc:
        turn.reply = f"The input is not usable ({exc.message}). Usage: " + USAGE["/run"]
        return
    if not await _runnable(cp, name):
        turn.reply = f"There is no skill {name!r} you can run; /skills lists them."
        return
    outcome = await cp.run(name, value, settings.llm.turn_timeout_s)
    record = CallRecord(tool_call_id="command", tool="/run", skill=name, status="")
    record, _, pending = recorded(record, outcome, settings.llm.max_tool_output_chars)
    turn.calls.append(record)
    if pending is not None:
        turn.pending_approvals.append(pending)
    turn.reply = _ran(outcome)


async def _runnable(cp: ControlPlane, name: str) -> bool:
    """Whether `name` is in the person's skill list as something that can run (a refused
    listing says no: the run would be refused for the same reason)."""
    try:
        listing = await cp.request("GET", "/api/v1/skills")
    except ControlPlaneRefused:
        return False
    return any(
        isinstance(s, dict) and s.get("name") == name and s.get("executable")
        for s in listing.get("skills", [])
    )


def _ran(outcome: CallOutcome) -> str:
    head = f"{outcome.skill} ({outcome.call_id or 'no call'})"
    if outcome.kind == "pending":
        reasons = "\n".join(f"- {r.message}" for r in outcome.reasons)
        return (
            f"{head} waits for approval:\n{reasons}\n"
            f"An approver can press Approve or Deny; /status {outcome.call_id} follows it."
        )
    if outcome.kind == "refused":
        return f"{outcome.skill} was refused ({outcome.error}): {outcome.message}"
    text = f"{head} {outcome.status}"
    if outcome.error:
        text += f" ({outcome.error}): {outcome.message}"
    return text + ":\n" + _shown(outcome.output)


async def _status(cp: ControlPlane, user_id: str, arguments: str) -> str:
    """One of `user_id`'s calls. The control plane shows a chat user only their own; a web
    chat credential with `audit:read` could read anyone's, so the requester is checked
    here too: a command shows the person's own calls, whatever their token may read."""
    if not _CALL_ID.match(arguments):
        return "Usage: " + USAGE["/status"]
    mine = f"You have no call {arguments!r}."
    try:
        story = await cp.request("GET", f"/api/v1/calls/{quote(arguments, safe='')}")
    except ControlPlaneRefused as exc:
        if exc.code == "call_not_found":
            return mine
        return f"The call could not be read ({exc.code}): {exc.message}"
    if _requester(story) != user_id:
        return mine
    text = f"{story.get('call_id', arguments)}: {story.get('skill') or '?'} {story.get('status')}"
    result = story.get("result")
    if story.get("error"):
        text += f"\nerror: {_shown(story['error'])}"
    if isinstance(result, dict):
        if result.get("error"):
            text += f"\nerror ({result['error']}): {result.get('message') or ''}"
        text += "\noutput:\n" + _shown(result.get("output"))
    return text


def _requester(story: dict[str, Any]) -> str | None:
    events = story.get("events")
    for event in events if isinstance(events, list) else []:
        if isinstance(event, dict) and event.get("action") == "call.requested":
            actor = event.get("actor")
            return actor if isinstance(actor, str) else None
    return None


def _shown(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    if len(text) <= MAX_SHOWN_OUTPUT:
        return text
    return text[:MAX_SHOWN_OUTPUT] + f"…[cut: {len(text) - MAX_SHOWN_OUTPUT} more characters]"
