"""The chat store on a database the control plane migrated: SQLite and PostgreSQL."""

from __future__ import annotations

import threading
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from nexflow_control.db import Database, migrations
from nexflow_gateway.control_plane import Reason
from nexflow_gateway.errors import NoteNotFound, SessionNotFound, StoreUnavailable
from nexflow_gateway.llm import Embedder
from nexflow_gateway.settings import LLMSettings
from nexflow_gateway.store import (
    NoteStore,
    Owner,
    SessionStore,
    new_session_id,
    open_engine,
    tables,
)
from nexflow_gateway.store._engine import statement_engine
from nexflow_gateway.store.tables import metadata
from nexflow_gateway.turns import CallRecord, PendingApproval, Turn, Usage
from pydantic import SecretStr
from sqlalchemy import event, inspect, select
from sqlalchemy.engine import Connection
from sqlalchemy.ext.asyncio import AsyncEngine

from gateway.tests.scripted_llm import Error, ScriptedLLM


@pytest.fixture(
    params=[
        pytest.param("sqlite", id="sqlite"),
        pytest.param("postgres", id="postgres", marks=pytest.mark.postgres),
    ]
)
async def engine(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[AsyncEngine]:
    """The chat tables made by the control plane's migrations, opened as the gateway does."""
    if request.param == "postgres":
        url = str(request.getfixturevalue("pg_url"))
    else:
        url = f"sqlite+aiosqlite:///{tmp_path / 'nexflow.db'}"
    database = await Database.open(url)
    await database.close()
    opened = await open_engine(url)
    yield opened
    await opened.dispose()


def _turn(message: str, reply: str, *, calls: int = 0, cost: float = 0.5) -> Turn:
    turn = Turn(
        message=message,
        reply=reply,
        model="openai/cheap",
        usage=Usage(
            llm_calls=1, prompt_tokens=10, completion_tokens=5, total_tokens=15, cost_usd=cost
        ),
        calls=[
            CallRecord(
                tool_call_id=f"t{i}",
                tool="echo",
                skill="echo",
                status="succeeded",
                call_id=f"c_{i}",
                output={"n": i},
                duration_ms=1.5,
            )
            for i in range(calls)
        ],
        pending_approvals=[
            PendingApproval(
                call_id="c_p",
                approval_id="a_1",
                skill="shell",
                reasons=[Reason(code="x", message="y")],
            )
        ],
    )
    turn.transcript = [
        {"role": "user", "content": message},
        {"role": "assistant", "content": reply},
    ]
    return turn


async def test_schema_equals_the_gateway_tables(engine: AsyncEngine) -> None:
    """The tables revision 0009_chat makes are exactly the ones the gateway reads and writes."""

    def diff(sync: Connection) -> list[Any]:
        context = MigrationContext.configure(sync, opts={"compare_type": True})
        found = compare_metadata(context, metadata)
        return [d for d in found if _table_of(d) in metadata.tables and not _search_index(d)]

    async with engine.connect() as conn:
        assert await conn.run_sync(diff) == []


def _search_index(change: Any) -> bool:
    """PostgreSQL's full-text GIN indexes (expressions the tables do not declare; the
    search tests prove them)."""
    return change[0] == "remove_index" and str(change[1].name).endswith("_fts")


def _table_of(change: Any) -> str:
    """The table an autogenerate change is about (the other areas' tables are theirs)."""
    if isinstance(change, list):  # modify_* changes come as a list of tuples
        return str(change[0][2])
    item = change[1]
    table = getattr(item, "table", item)
    return str(getattr(table, "name", ""))


async def test_turns_are_stored_with_steps_and_costs(engine: AsyncEngine) -> None:
    """A session is written with its first turn: messages, tool steps, model, summed costs."""
    store = SessionStore(engine, max_turns=10, retention_days=30)
    sid = new_session_id()
    owner = Owner(user_id="ann", channel="web")
    first = await store.record(sid, owner, _turn("hello", "hi", calls=2))
    second = await store.record(sid, owner, _turn("again", "yes", cost=0.25))
    assert first.turns == 1 and second.turns == 2
    assert second.usage.cost_usd == pytest.approx(0.75) and second.usage.total_tokens == 30
    assert second.channel == "web" and second.user_id == "ann"
    [one, two] = await store.turns(sid)
    assert (one.message, one.reply, two.message, two.reply) == ("hello", "hi", "again", "yes")
    assert [c.call_id for c in one.calls] == ["c_0", "c_1"] and one.calls[1].output == {"n": 1}
    assert one.calls[0].duration_ms == 1.5 and one.model == "openai/cheap"
    assert one.pending_approvals[0].approval_id == "a_1"
    history = await store.history(sid, 1)
    assert history == [
        {"role": "user", "content": "again"},
        {"role": "assistant", "content": "yes"},
    ]
    assert [s.id for s in await store.of_user("ann")] == [sid]


async def test_a_turn_is_recorded_in_one_transaction_of_four_statements(
    engine: AsyncEngine,
) -> None:
    """A turn costs the database one transaction: the session upserted (its totals read
    back from it), the turn, its messages, its steps; no read, no trim below `max_turns`.
    The owner of a session stays the one its first turn named."""
    store = SessionStore(engine, max_turns=10, retention_days=30)
    sid = new_session_id()
    seen: list[str] = []
    begun: list[object] = []

    threads: set[int] = set()

    def statement(_conn: Any, _cursor: Any, sql: str, *_rest: Any) -> None:
        seen.append(sql.split()[0].upper())
        threads.add(threading.get_ident())

    def begin(conn: Any) -> None:
        begun.append(conn)

    runs_on = statement_engine(engine)  # a SQLite file: its sqlite3 engine (one hop a call)
    event.listen(runs_on, "before_cursor_execute", statement)
    event.listen(runs_on, "begin", begin)
    try:
        first = await store.record(sid, Owner(user_id="ann", channel="web"), _turn("a", "b"))
        assert seen == ["INSERT"] * 3 and len(begun) == 1, seen
        seen.clear()
        second = await store.record(sid, Owner(user_id="bob"), _turn("c", "d", calls=2))
        assert seen == ["INSERT"] * 4 and len(begun) == 2, seen
    finally:
        event.remove(runs_on, "before_cursor_execute", statement)
        event.remove(runs_on, "begin", begin)
    assert (first.turns, second.turns) == (1, 2)
    if engine.dialect.name == "sqlite":  # a SQLite file: off the event loop, in one hop
        assert runs_on is not engine.sync_engine and threading.get_ident() not in threads
    assert second.usage.cost_usd == pytest.approx(1.0) and second.usage.llm_calls == 2
    assert second.user_id == "ann" and second.channel == "web"
    assert (await store.summary(sid, "ann")).turns == 2
    with pytest.raises(SessionNotFound):
        await store.summary(sid, "bob")


async def test_sessions_are_private_to_their_user(engine: AsyncEngine) -> None:
    """Another user can neither read nor list someone's session."""
    store = SessionStore(engine, max_turns=10, retention_days=30)
    sid = new_session_id()
    await store.record(sid, Owner(user_id="ann"), _turn("secret", "ok"))
    with pytest.raises(SessionNotFound):
        await store.summary(sid, "bob")
    assert await store.of_user("bob") == []
    with pytest.raises(SessionNotFound):
        await store.history(sid, 5, owned_by="bob")
    with pytest.raises(SessionNotFound):
        await store.history(new_session_id(), 5, owned_by="ann")
    assert await store.history(sid, 5, owned_by="ann") == [
        {"role": "user", "content": "secret"},
        {"role": "assistant", "content": "ok"},
    ]


async def test_only_the_newest_turns_are_kept(engine: AsyncEngine) -> None:
    """Past `max_turns` the oldest turns go with their messages and steps; totals stay."""
    store = SessionStore(engine, max_turns=3, retention_days=30)
    notes = NoteStore(engine, max_notes=10)
    sid = new_session_id()
    for i in range(5):
        await store.record(sid, Owner(user_id="ann"), _turn(f"word{i}", f"reply{i}", calls=1))
    kept = await store.turns(sid)
    assert [t.message for t in kept] == ["word2", "word3", "word4"]
    assert (await store.summary(sid, "ann")).turns == 5
    assert await notes.search("ann", "word0") == [], "a deleted message is not found"
    assert [h.text for h in await notes.search("ann", "word4")] == ["word4"]


async def test_retention_sweeps_idle_sessions(engine: AsyncEngine) -> None:
    """Sessions idle past the retention are deleted; a recent one stays."""
    store = SessionStore(engine, max_turns=10, retention_days=1)
    old, new = new_session_id(), new_session_id()
    await store.record(old, Owner(user_id="ann"), _turn("old", "x", calls=1))
    await store.record(new, Owner(user_id="ann"), _turn("new", "y"))
    later = datetime.now(UTC) + timedelta(hours=12)
    assert await store.sweep(later) == 0
    assert await store.sweep(datetime.now(UTC) + timedelta(days=2)) == 2
    assert await store.of_user("ann") == []


async def test_notes_listed_searched_and_deleted(engine: AsyncEngine) -> None:
    """Notes belong to one user; search finds notes and messages by every word; delete is final."""
    store = SessionStore(engine, max_turns=10, retention_days=30)
    notes = NoteStore(engine, max_notes=2)
    sid = new_session_id()
    await store.record(sid, Owner(user_id="ann"), _turn("the nightly build failed", "ok"))
    first = await notes.add("ann", "deploys happen on Tuesday")
    await notes.add("ann", "the build server is ci-7")
    await notes.add("bob", "bob's build note")
    hits = await notes.search("ann", "BUILD")
    assert {(h.kind, h.text) for h in hits} == {
        ("note", "the build server is ci-7"),
        ("message", "the nightly build failed"),
    }
    assert [h.session_id for h in hits if h.kind == "message"] == [sid]
    assert len(await notes.search("ann", '"build*')) == 2, "query syntax is taken as words"
    assert await notes.search("ann", "build OR nothing") == [], "OR is a word, not an operator"
    assert await notes.search("ann", "build tuesday") == []
    await notes.add("ann", "a third note")
    assert [n.text for n in await notes.of_user("ann")] == [
        "a third note",
        "the build server is ci-7",
    ]
    with pytest.raises(NoteNotFound):
        await notes.delete("ann", first.id)  # pushed out by the cap
    [bobs] = await notes.of_user("bob")
    with pytest.raises(NoteNotFound):
        await notes.delete("ann", bobs.id)
    await notes.delete("bob", bobs.id)
    assert await notes.of_user("bob") == []


@pytest.fixture
def embedding_llm() -> Iterator[ScriptedLLM]:
    llm = ScriptedLLM().start()
    yield llm
    llm.stop()


def _embedder(api_base: str) -> Embedder:
    settings = LLMSettings(
        embedding_model="openai/scripted-embed", api_base=api_base, api_key=SecretStr("k")
    )
    found = Embedder.configured(settings)
    assert found is not None
    return found


VECTORS = {
    "ship": [0.98, 0.2, 0.0],
    "releases go out every Tuesday morning": [1.0, 0.0, 0.0],  # no word of the query
    "ship stickers to conferences": [0.0, 0.0, 1.0],
    "the build server is ci-7": [0.0, 1.0, 0.0],
}


async def test_notes_rank_by_embedding(engine: AsyncEngine, embedding_llm: ScriptedLLM) -> None:
    """With an embedding model, a note sharing no word with the query but with a near vector
    ranks first, word matches follow, far notes and other users' notes stay out."""
    embedding_llm.embed = lambda text: VECTORS.get(text, [0.0, 0.0, 1.0])
    notes = NoteStore(engine, max_notes=50, vectors=_embedder(embedding_llm.api_base))
    for text in ("releases go out every Tuesday morning", "ship stickers to conferences"):
        await notes.add("ann", text)
    await notes.add("ann", "the build server is ci-7")
    await notes.add("bob", "releases go out every Tuesday morning")
    hits = await notes.search("ann", "ship")
    assert [h.text for h in hits] == [
        "releases go out every Tuesday morning",
        "ship stickers to conferences",
    ]
    assert hits[0].score == pytest.approx(0.98 / (0.98**2 + 0.2**2) ** 0.5)
    assert "ship" in embedding_llm.embedded, "the query went to the embedding server"
    async with engine.connect() as conn:
        stored = (await conn.execute(select(tables.notes.c.embedding_model))).scalars().all()
    assert set(stored) == {"openai/scripted-embed"}
    without = NoteStore(engine, max_notes=50)
    assert [h.text for h in await without.search("ann", "ship")] == [
        "ship stickers to conferences"
    ], "without the model, search is full-text only"


async def test_failing_embedding_server_still_saves_and_finds_notes(
    engine: AsyncEngine, embedding_llm: ScriptedLLM
) -> None:
    """An embedding server answering 500 (or gone) costs no note: it is saved without a
    vector and found by its words; vectors rank again once the server is back."""
    embedding_llm.embed = lambda _text: Error(500, '{"error": {"message": "down"}}')
    notes = NoteStore(engine, max_notes=50, vectors=_embedder(embedding_llm.api_base))
    saved = await notes.add("ann", "ship stickers to conferences")
    assert [n.id for n in await notes.of_user("ann")] == [saved.id]
    assert [h.id for h in await notes.search("ann", "stickers")] == [saved.id]
    gone = NoteStore(engine, max_notes=50, vectors=_embedder("http://127.0.0.1:9/v1"))
    await gone.add("ann", "releases go out every Tuesday morning")
    assert [h.text for h in await gone.search("ann", "tuesday")] == [
        "releases go out every Tuesday morning"
    ]
    embedding_llm.embed = lambda text: VECTORS.get(text, [0.0, 0.0, 1.0])
    hits = await notes.search("ann", "ship")
    assert [h.text for h in hits] == ["ship stickers to conferences"], (
        "notes saved without a vector are found by their words, not by a vector they lack"
    )


async def test_revision_0011_downgrades_and_upgrades(engine: AsyncEngine) -> None:
    """0011_chat_note_vectors goes down to 0010 (the columns go, the FTS triggers stay and
    notes are still found) and back up to head."""

    def columns(sync: Connection) -> set[str]:
        return {c["name"] for c in inspect(sync).get_columns("chat_notes")}

    def to(sync: Connection, revision: str) -> None:
        if revision == "head":
            command.upgrade(migrations.config(sync), revision)
        else:
            command.downgrade(migrations.config(sync), revision)

    async with engine.begin() as conn:
        await conn.run_sync(to, "0010_chat_outbox")
    async with engine.connect() as conn:
        assert not {"embedding", "embedding_model"} & await conn.run_sync(columns)
        assert await migrations.current(conn) == "0010_chat_outbox"
        await conn.execute(
            tables.notes.insert().values(user_id="ann", text="kept across", created_at=_NOW)
        )
        await conn.commit()
    async with engine.begin() as conn:
        await conn.run_sync(to, "head")
    async with engine.connect() as conn:
        assert {"embedding", "embedding_model"} <= await conn.run_sync(columns)
        assert await migrations.current(conn) == migrations.head()
    [hit] = await NoteStore(engine, max_notes=5).search("ann", "across")
    assert hit.text == "kept across"


_NOW = datetime.now(UTC)


async def test_unmigrated_database_is_a_clear_error(tmp_path: Path) -> None:
    """A database without the chat tables says to start the control plane on it first."""
    with pytest.raises(StoreUnavailable, match="start the control plane"):
        await open_engine(f"sqlite+aiosqlite:///{tmp_path / 'empty.db'}")
