"""Rate counts and the decision cache: counts below the caps share one cached decision, a
count at its cap is denied exactly as the policy says, and no reload reuses an entry."""

from __future__ import annotations

import asyncio
import copy
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nexflow_control.app import create_app, open_engine
from nexflow_control.policy import (
    Decision,
    EmbeddedEngine,
    LocalOpaServer,
    OpaServerEngine,
    ReloadResult,
)
from nexflow_control.policy._cache import (
    RATE_CAPS_ENTRYPOINT,
    DecisionCache,
    InputView,
    parse_rate_caps,
)
from nexflow_control.settings import PolicySettings, Settings

from tests.policy_input import policy_input

from .conftest import POLICIES, reloaded

Engine = EmbeddedEngine | OpaServerEngine


def _with_rate(item: dict[str, Any], minute: int, hour: int, n: int = 0) -> dict[str, Any]:
    """``item`` with these counts and another call id and time (as the next real call)."""
    changed = copy.deepcopy(item)
    changed["context"]["rate"] = {"minute": minute, "hour": hour}
    changed["call"]["id"] = f"c_rate_{minute}_{hour}_{n}"
    changed["context"]["time"] = f"2026-12-07T10:{minute % 60:02d}:00Z"
    return changed


@pytest_asyncio.fixture(params=["embedded", pytest.param("opa", marks=pytest.mark.opa)])
async def engine(
    request: pytest.FixtureRequest, policy_copy: Path
) -> AsyncIterator[tuple[Engine, Path]]:
    """Each engine with its cache on, over a private copy of the policies."""
    if request.param == "embedded":
        yield EmbeddedEngine(policy_copy), policy_copy
        return
    server: LocalOpaServer = request.getfixturevalue("opa_server")
    opa = await OpaServerEngine.connect(
        server.url, policy_copy, timeout_ms=30_000, token=server.token, cache_size=256
    )
    try:
        yield opa, policy_copy
    finally:
        await opa.close()


async def test_a_rate_limit_denies_at_exactly_the_limit_when_all_else_is_cached(
    engine: tuple[Engine, Path],
) -> None:
    """User (60 a minute, 1,000 an hour): 0..59 share one evaluation, 60 is denied with the
    policy's own message, 1,000 in the hour too, and 59 is allowed again from the cache."""
    decider, _ = engine
    reference = EmbeddedEngine(POLICIES, cache_size=0)
    base = policy_input()
    for minute in range(60):
        item = _with_rate(base, minute, minute * 10)
        decided = await decider.decide(item)
        assert decided.allow, minute
        assert decided == reference.decide_sync(item), minute
    assert decider.cache.misses == 1, "counts below the caps must share one evaluation"
    at_minute = await decider.decide(_with_rate(base, 60, 600))
    assert at_minute.codes == ("rate_limited",)
    assert at_minute.reasons[0].message == "60 calls in the last minute; the limit is 60"
    at_hour = await decider.decide(_with_rate(base, 3, 1000))
    assert at_hour.reasons[0].message == "1000 calls in the last hour; the limit is 1000"
    over_both = await decider.decide(_with_rate(base, 61, 1001))
    assert sorted(over_both.codes) == ["rate_limited", "rate_limited"]
    assert (await decider.decide(_with_rate(base, 59, 999, 1))).allow
    assert decider.cache.misses == 4


async def test_a_principal_limit_is_held_from_the_cache_too(engine: tuple[Engine, Path]) -> None:
    """A principal's own limit (3 a minute, no hourly one) caps the cached decision: an
    admin with it is held at 3, whatever the hour count."""
    decider, policies = engine
    data = json.loads((policies / "data.json").read_text())
    data["nexflow"]["config"]["principals"] = {"alice": {"rate_limit": {"per_minute": 3}}}
    (policies / "data.json").write_text(json.dumps(data))
    assert (await reloaded(decider, policies)).changed
    base = policy_input(["admin"], [])
    for minute in range(3):
        assert (await decider.decide(_with_rate(base, minute, 10**6))).allow
    assert decider.cache.misses == 1
    assert (await decider.decide(_with_rate(base, 3, 0))).codes == ("rate_limited",)


async def test_a_cached_decision_is_never_reused_across_a_reload(
    engine: tuple[Engine, Path],
) -> None:
    """A decision cached for every count below 60 is forgotten when the data lowers the cap
    to 5 and when a policy file denies everything: the next call, whose count the old
    entry covered, gets the new policy's answer."""
    decider, policies = engine
    base = policy_input()
    assert (await decider.decide(_with_rate(base, 1, 1))).allow
    assert (await decider.decide(_with_rate(base, 5, 5))).allow
    assert decider.cache.hits == 1
    data = json.loads((policies / "data.json").read_text())
    data["nexflow"]["config"]["roles"]["user"]["rate_limit"]["per_minute"] = 5
    (policies / "data.json").write_text(json.dumps(data))
    first = await reloaded(decider, policies)
    assert first.changed and len(decider.cache) == 0
    limited = await decider.decide(_with_rate(base, 5, 5, 1))
    assert limited.codes == ("rate_limited",) and limited.revision == first.revision
    assert (await decider.decide(_with_rate(base, 4, 4))).allow
    (policies / "nexflow" / "authz" / "closed.rego").write_text(
        "package nexflow.authz\n\n"
        '_violations contains _reason("closed", "closed for maintenance") if true\n'
    )
    second = await reloaded(decider, policies)
    assert second.changed and len(decider.cache) == 0
    closed = await decider.decide(_with_rate(base, 4, 4, 1))
    assert closed.codes == ("closed",) and closed.revision == second.revision


async def test_an_evaluation_racing_a_reload_is_not_kept_for_the_new_policy(
    policy_copy: Path,
) -> None:
    """Decisions that evaluate while a reload lands are stored, if at all, under the
    revision that made them: after the reload every answer is the new policy's."""
    decider = EmbeddedEngine(policy_copy)
    base = policy_input()
    (policy_copy / "nexflow" / "authz" / "closed.rego").write_text(
        "package nexflow.authz\n\n"
        '_violations contains _reason("closed", "closed for maintenance") if true\n'
    )
    racing = [decider.decide(_with_rate(base, n, n)) for n in range(8)]
    results = await asyncio.gather(*racing, decider.reload())
    reload_result = results[-1]
    assert isinstance(reload_result, ReloadResult) and reload_result.changed
    for n in range(8):
        after = await decider.decide(_with_rate(base, n, n, 1))
        assert after.codes == ("closed",), n
    cache = DecisionCache(8)
    prepared = InputView().prepare(_with_rate(base, 1, 1))
    assert prepared is not None
    old = Decision.deny("x", "made by the old policy", "sha256:old")
    cache.keep("sha256:new", prepared, old, (("hour", 10), ("minute", 10)))
    assert len(cache) == 0 and cache.find("sha256:new", prepared) is None


async def test_a_policy_without_rate_caps_caches_by_the_exact_input(tmp_path: Path) -> None:
    """A policy that does not offer decision_and_rate_caps still answers and caches, but
    every new count is a new key (nothing is assumed about how it reads the counts)."""
    root = tmp_path / "own"
    (root / "nexflow" / "authz").mkdir(parents=True)
    (root / "data.json").write_text("{}")
    (root / "nexflow" / "authz" / "decision.rego").write_text(
        "package nexflow.authz\n\n"
        'decision := {"allow": false, "require_approval": false, "grants": {"filesystem": [],'
        ' "network": [], "limits": {}}, "reasons": [{"code": "busy", "message": "busy"}]}'
        " if input.context.rate.minute > 2\n\n"
        'decision := {"allow": true, "require_approval": false, "reasons": [], "grants":'
        ' {"filesystem": [], "network": [], "limits": {"wall_time_ms": 1, "cpu_time_ms": 1,'
        ' "memory_bytes": 1, "pids": 1, "output_bytes": 1}}} if input.context.rate.minute <= 2\n'
    )
    decider = EmbeddedEngine(root)
    answers = [(await decider.decide(_with_rate(policy_input(), m, 0))).allow for m in range(5)]
    assert answers == [True, True, True, False, False]
    assert decider.cache.misses == 5
    assert (await decider.decide(_with_rate(policy_input(), 4, 0))).codes == ("busy",)
    assert decider.cache.hits == 1  # the same input again (this data hides no field)


@pytest.fixture(scope="module")
def long_lived() -> EmbeddedEngine:
    """One cached engine over the shipped policies for the whole property test."""
    return EmbeddedEngine(POLICIES)


@pytest.fixture(scope="module")
def uncached() -> EmbeddedEngine:
    """The reference: the same policies, no cache."""
    return EmbeddedEngine(POLICIES, cache_size=0)


@given(
    roles=st.sampled_from([["user"], ["operator"], ["admin"], ["viewer"], ["user", "operator"]]),
    principal=st.sampled_from(["alice", "bob"]),
    counts=st.lists(
        st.tuples(
            st.sampled_from([0, 1, 59, 60, 61, 119, 120, 121]),
            st.sampled_from([0, 999, 1000, 2999, 3000, 3001]),
        ),
        min_size=1,
        max_size=6,
    ),
)
@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_counts_around_the_caps_always_get_the_uncached_answer(
    long_lived: EmbeddedEngine,
    uncached: EmbeddedEngine,
    roles: list[str],
    principal: str,
    counts: list[tuple[int, int]],
) -> None:
    """Any sequence of counts on either side of every role's caps, through a long-lived
    cache, answers exactly as an engine with no cache."""
    base = policy_input(roles, ["filesystem"], principal=principal)
    for n, (minute, hour) in enumerate(counts):
        item = _with_rate(base, minute, hour, n)
        assert long_lived.decide_sync(item) == uncached.decide_sync(item), (minute, hour)


@pytest.mark.opa
async def test_the_opa_cache_is_opt_in_through_the_settings(
    tmp_path: Path, opa_server: LocalOpaServer
) -> None:
    """NEXFLOW_POLICY__OPA_CACHE_SIZE reaches the OPA server engine the app opens; with
    the default (0) every repeated call still asks the server."""
    for size, hits in ((0, 0), (32, 2)):
        settings = Settings(
            home=tmp_path / f"home-{size}",
            admin_token="t" * 40,
            policy_dir=POLICIES,
            policy=PolicySettings(
                opa_url=opa_server.url, opa_token=opa_server.token, opa_cache_size=size
            ),
        )
        opened = await open_engine(settings)
        try:
            assert isinstance(opened, OpaServerEngine)
            for n in range(3):
                assert (await opened.decide(_with_rate(policy_input(), n, n))).allow
            assert (opened.cache.max_entries, opened.cache.hits) == (size, hits)
        finally:
            await opened.close()


@pytest.mark.opa
async def test_both_engines_name_the_same_caps_for_every_corpus_input(
    opa_server: LocalOpaServer,
) -> None:
    """rego-cpp and OPA agree on decision_and_rate_caps for the whole conformance corpus
    (the caps decide which cached decision is reused, so they must agree as the decisions do)."""
    from .test_policy_cache import CORPUS

    embedded = EmbeddedEngine(POLICIES, cache_size=0)
    served = await OpaServerEngine.connect(
        opa_server.url, POLICIES, timeout_ms=30_000, token=opa_server.token
    )
    active = embedded._active
    capped = 0
    try:
        assert active.rate_caps
        for name, item in sorted(CORPUS.items()):
            prepared = active.view.prepare(item)
            if prepared is None:
                continue
            mine = embedded._query(active, prepared.text, RATE_CAPS_ENTRYPOINT)
            found, theirs, _ = await served._ask(prepared.seen, "decision_and_rate_caps")
            assert found and mine == theirs, name
            assert parse_rate_caps(mine["rate_caps"]) is not None, name
            capped += any(cap is not None for cap in mine["rate_caps"].values())
    finally:
        await served.close()
    assert capped > 10, "the corpus must hold inputs with caps for this to mean anything"


async def test_the_control_planes_repeated_calls_are_cache_hits(tmp_path: Path) -> None:
    """Through the real app, one principal calling one skill again and again (its rate
    counts rising each call) is evaluated twice, for the version's first run and for the
    first one after it (skill_runs 0, then 1); every later decision is a cache hit."""
    settings = Settings(
        home=tmp_path / "home",
        admin_token="t" * 40,
        policy_dir=POLICIES,
        executor_socket=tmp_path / "no-executor.sock",
        executor_timeout_s=0.2,
    )
    app = create_app(settings)
    async with app.router.lifespan_context(app):
        engine = app.state.services.engine
        assert isinstance(engine, EmbeddedEngine)
        transport = httpx.ASGITransport(app=app)
        headers = {"Authorization": f"Bearer {'t' * 40}"}
        async with httpx.AsyncClient(
            transport=transport, base_url="http://cp", headers=headers
        ) as client:
            for n in range(6):
                response = await client.post(
                    "/api/v1/skills/echo", json={"input": {"message": f"hi {n}"}}
                )
                assert response.status_code != 403, response.text
            decided = await client.get("/api/v1/audit", params={"action": "call.decided"})
    assert len(decided.json()["events"]) == 6
    assert (engine.cache.misses, engine.cache.hits) == (2, 4)
