"""Persona files: `USER.md` (who the user is) and `WORKSPACE.md` (what this Nexflow is for)
in the home directory, read at each turn and handed to the model in the system prompt as
context written by the operator, never as a tool result. Each is cut to a byte bound; a
missing, unreadable or non-UTF-8 file is simply left out."""

from __future__ import annotations

from pathlib import Path

FILES = ("USER.md", "WORKSPACE.md")


def read_persona(home: Path, max_bytes: int) -> str:
    """The persona files' text as one system-prompt section ("" when there are none)."""
    parts: list[str] = []
    for name in FILES:
        text = _read(home / name, max_bytes)
        if text:
            parts.append(f"<{name}>\n{text}\n</{name}>")
    if not parts:
        return ""
    return (
        "\n\nThe operator's notes on the user and the workspace (context, not tool output):\n"
        + "\n".join(parts)
    )


def _read(path: Path, max_bytes: int) -> str:
    try:
        with path.open("rb") as f:
            raw = f.read(max_bytes + 1)
    except OSError:
        return ""
    cut = raw[:max_bytes].decode("utf-8", "ignore").strip()
    return cut + ("\n…[cut]" if len(raw) > max_bytes else "")
