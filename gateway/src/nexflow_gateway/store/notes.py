"""Long-term notes a user keeps, and full-text search over their notes and chat messages.

Search is SQLite FTS5 (the `*_fts` tables revision 0009_chat made) or PostgreSQL's
`to_tsvector('simple', ...)` (its GIN indexes); the user's words are matched as plain
terms (every term must occur), never as query syntax.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

from sqlalchemy import ColumnElement, delete, func, insert, literal_column, select, text
from sqlalchemy.ext.asyncio import AsyncEngine

from ..errors import NoteNotFound
from .models import Note, SearchHit
from .tables import messages, notes, sessions

MAX_NOTE_CHARS = 4000
_SNIPPET = 500
_TERM = re.compile(r"\w+", re.UNICODE)


class NoteStore:
    def __init__(self, engine: AsyncEngine, *, max_notes: int) -> None:
        self._engine = engine
        self._max_notes = max_notes
        self._sqlite = engine.dialect.name == "sqlite"

    async def of_user(self, user_id: str) -> list[Note]:
        """`user_id`'s notes, newest first."""
        query = select(notes).where(notes.c.user_id == user_id).order_by(notes.c.id.desc())
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).mappings().all()
        return [Note(id=r["id"], text=r["text"], created_at=r["created_at"]) for r in rows]

    async def add(self, user_id: str, text_: str) -> Note:
        """Keep a note; the user's oldest go once they hold more than `max_notes`."""
        at = datetime.now(UTC)
        async with self._engine.begin() as conn:
            note_id = (
                await conn.execute(
                    insert(notes)
                    .values(user_id=user_id, text=text_, created_at=at)
                    .returning(notes.c.id)
                )
            ).scalar_one()
            keep = (
                select(notes.c.id)
                .where(notes.c.user_id == user_id)
                .order_by(notes.c.id.desc())
                .limit(self._max_notes)
            )
            await conn.execute(
                delete(notes).where(notes.c.user_id == user_id, notes.c.id.not_in(keep))
            )
        return Note(id=note_id, text=text_, created_at=at)

    async def delete(self, user_id: str, note_id: int) -> None:
        async with self._engine.begin() as conn:
            gone = await conn.execute(
                delete(notes).where(notes.c.id == note_id, notes.c.user_id == user_id)
            )
        if gone.rowcount == 0:
            raise NoteNotFound(f"no note {note_id}")

    async def search(self, user_id: str, query: str, limit: int = 20) -> list[SearchHit]:
        """`user_id`'s notes and messages holding every word of `query`, best first."""
        terms = _TERM.findall(query)[:16]
        if not terms:
            return []
        said = select(
            messages.c.id,
            messages.c.content,
            messages.c.at,
            messages.c.session_id,
            messages.c.role,
        ).join(sessions, sessions.c.id == messages.c.session_id)
        kept = select(notes.c.id, notes.c.text, notes.c.created_at)
        said = said.where(sessions.c.user_id == user_id, self._match("chat_messages", terms))
        kept = kept.where(notes.c.user_id == user_id, self._match("chat_notes", terms))
        async with self._engine.connect() as conn:
            found = [
                SearchHit(kind="note", id=r[0], text=r[1][:_SNIPPET], at=r[2])
                for r in await conn.execute(kept.limit(limit))
            ]
            found += [
                SearchHit(
                    kind="message",
                    id=r[0],
                    text=r[1][:_SNIPPET],
                    at=r[2],
                    session_id=r[3],
                    role=r[4],
                )
                for r in await conn.execute(said.order_by(messages.c.id.desc()).limit(limit))
            ]
        return found[:limit]

    def _match(self, table: str, terms: list[str]) -> ColumnElement[bool]:
        """`table`'s rows holding every term (FTS5 phrase-quoted / `plainto_tsquery`)."""
        if self._sqlite:
            quoted = " ".join('"' + t.replace('"', '""') + '"' for t in terms)
            return literal_column(f"{table}.id").in_(
                select(literal_column("rowid"))
                .select_from(text(f"{table}_fts"))
                .where(text(f"{table}_fts MATCH :q_{table}").bindparams(**{f"q_{table}": quoted}))
            )
        column = notes.c.text if table == "chat_notes" else messages.c.content
        return func.to_tsvector("simple", column).op("@@")(
            func.plainto_tsquery("simple", " ".join(terms))
        )
