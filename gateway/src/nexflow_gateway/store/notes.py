"""Long-term notes a user keeps, and full-text search over their notes and chat messages.

Search is SQLite FTS5 (the `*_fts` tables revision 0009_chat made) or PostgreSQL's
`to_tsvector('simple', ...)` (its GIN indexes); the user's words are matched as plain
terms (every term must occur), never as query syntax.

With `vectors` (an embedding model configured), a note gets its vector when saved (revision
0011_chat_note_vectors) and search ranks the user's notes by cosine with the query's vector
(computed here, in Python: a user holds at most `max_notes`), a full-text match adding
`FTS_BONUS`; a note with none of the query's words is found when its cosine reaches the
model's `min_similarity`. When the model fails, a note is saved without a vector and search
falls back to full-text alone: a note is never lost to it. Messages are found by full text.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Protocol

from sqlalchemy import ColumnElement, delete, func, insert, literal_column, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

from ..errors import NoteNotFound
from .models import Note, SearchHit
from .tables import messages, notes, sessions

MAX_NOTE_CHARS = 4000
FTS_BONUS = 0.1
_SNIPPET = 500
_TERM = re.compile(r"\w+", re.UNICODE)


class Vectors(Protocol):
    """Text to vectors (`nexflow_gateway.llm.Embedder`): None when the model fails."""

    model: str
    min_similarity: float

    async def vector(self, text: str) -> list[float] | None: ...


class NoteStore:
    def __init__(
        self, engine: AsyncEngine, *, max_notes: int, vectors: Vectors | None = None
    ) -> None:
        self._engine = engine
        self._max_notes = max_notes
        self._vectors = vectors
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
        vector = await self._vectors.vector(text_) if self._vectors else None
        model = self._vectors.model if self._vectors and vector is not None else None
        async with self._engine.begin() as conn:
            note_id = (
                await conn.execute(
                    insert(notes)
                    .values(
                        user_id=user_id,
                        text=text_,
                        created_at=at,
                        embedding=vector,
                        embedding_model=model,
                    )
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
        """`user_id`'s notes, then messages, matching `query`, best first: notes by vector
        and full text when an embedding model answers, else (and messages) by full text."""
        terms = _TERM.findall(query)[:16]
        wanted = await self._vectors.vector(query) if self._vectors and query.strip() else None
        if not terms and wanted is None:
            return []
        if not terms:
            return (await self._ranked(user_id, wanted, set()))[:limit] if wanted else []
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
                for r in await conn.execute(kept.limit(self._max_notes if wanted else limit))
            ]
            if wanted is not None:
                found = await self._ranked(user_id, wanted, {h.id for h in found}, conn)
            found = found[:limit]
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

    async def _ranked(
        self,
        user_id: str,
        wanted: list[float],
        matched: set[int],
        conn: AsyncConnection | None = None,
    ) -> list[SearchHit]:
        """The user's notes ranked by cosine with `wanted` (plus `FTS_BONUS` for those in
        `matched`, the full-text matches): the matches, and the notes without the words whose
        cosine reaches `min_similarity`. A note without a vector of this model ranks by
        its full-text match alone."""
        assert self._vectors is not None
        query = select(
            notes.c.id, notes.c.text, notes.c.created_at, notes.c.embedding, notes.c.embedding_model
        ).where(notes.c.user_id == user_id)
        if conn is None:
            async with self._engine.connect() as own:
                rows = (await own.execute(query)).all()
        else:
            rows = (await conn.execute(query)).all()
        scored: list[tuple[float, int, SearchHit]] = []
        for note_id, text_, at, vector, model in rows:
            close = (
                _cosine(wanted, vector)
                if model == self._vectors.model and isinstance(vector, list)
                else None
            )
            if note_id in matched:
                score = (close or 0.0) + FTS_BONUS
            elif close is not None and close >= self._vectors.min_similarity:
                score = close
            else:
                continue
            hit = SearchHit(kind="note", id=note_id, text=text_[:_SNIPPET], at=at, score=score)
            scored.append((score, note_id, hit))
        scored.sort(key=lambda s: (s[0], s[1]), reverse=True)
        return [hit for _, _, hit in scored]

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


def _cosine(a: list[float], b: list[float]) -> float:
    """Cosine similarity (0 for vectors of different lengths or a zero vector)."""
    if len(a) != len(b):
        return 0.0
    try:
        dot = math.fsum(x * y for x, y in zip(a, b, strict=True))
        norm = math.sqrt(math.fsum(x * x for x in a) * math.fsum(y * y for y in b))
    except TypeError:  # a stored vector that is not a list of numbers
        return 0.0
    return dot / norm if norm else 0.0
