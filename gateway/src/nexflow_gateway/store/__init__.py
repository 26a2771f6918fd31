"""The gateway's memory in the control plane's database: chat sessions (turns, messages,
tool steps, costs), long-term notes, and search over both.

    open_engine     the database, its chat tables checked (the control plane makes them)
    SessionStore    sessions and their turns, bounded per session, swept by retention
    NoteStore       a user's notes; search over their notes and messages
"""

from ._engine import open_engine
from .models import Note, Owner, SearchHit, SessionSummary
from .notes import MAX_NOTE_CHARS, NoteStore
from .sessions import SessionStore, new_session_id

__all__ = [
    "MAX_NOTE_CHARS",
    "Note",
    "NoteStore",
    "Owner",
    "SearchHit",
    "SessionStore",
    "SessionSummary",
    "new_session_id",
    "open_engine",
]
