"""The decision cache never changes an answer: hits equal fresh evaluations on both engines,
any change in a field the policy sees misses, reloads forget everything, the size is bounded."""

from __future__ import annotations

import asyncio
import copy
import importlib.util
import json
import shutil
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from nexflow_control.policy import (
    Decision,
    EmbeddedEngine,
    LocalOpaServer,
    OpaServerEngine,
)
from nexflow_control.policy._cache import DecisionCache, InputView

from tests.policy_input import policy_input

from .conftest import reloaded

HERE = Path(__file__).resolve().parent
POLICIES = HERE.parents[2] / "policies"
ON_MODULE_LOOP = pytest.mark.asyncio(loop_scope="module")
HIDDEN = ("call.id", "call.input_sha256", "context.time")


def _corpus() -> dict[str, Any]:
    """The conformance corpus (generated and hand-written inputs), as that test builds it."""
    spec = importlib.util.spec_from_file_location(
        "policy_conformance_corpus", HERE / "test_policy_conformance.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    corpus: dict[str, Any] = module.CORPUS
    return corpus


CORPUS = _corpus()


def _without_hidden(tmp: Path) -> Path:
    """A copy of the shipped policies that hides nothing from the policy."""
    target = tmp / "policies-nothing-hidden"
    shutil.copytree(POLICIES, target)
    data = json.loads((target / "data.json").read_text())
    assert data["nexflow"]["config"].pop("policy_input")["hidden"] == list(HIDDEN)
    (target / "data.json").write_text(json.dumps(data))
    return target


def _same_answer(a: Decision, b: Decision) -> bool:
    """Equal in everything but the revision that made them."""
    return (a.allow, a.require_approval, a.reasons, a.grants) == (
        b.allow,
        b.require_approval,
        b.reasons,
        b.grants,
    )


def _varied(item: Any, n: int) -> Any:
    """``item`` with other values in the hidden fields (what changes between real calls)."""
    if not isinstance(item, dict):
        return item
    varied = copy.deepcopy(item)
    if isinstance(varied.get("call"), dict):
        if isinstance(varied["call"].get("id"), str) and varied["call"]["id"]:
            varied["call"]["id"] = f"c_{n}_other"
        varied["call"]["input_sha256"] = f"{n:064x}"
    if isinstance(varied.get("context"), dict):
        varied["context"]["time"] = f"2031-01-{1 + n % 28:02d}T00:00:00Z"
    return varied


# -- the cache itself --------------------------------------------------------------------


def test_cache_is_bounded_and_evicts_the_least_recently_used() -> None:
    """Beyond max_entries the least recently used decision goes; a read refreshes one."""
    cache = DecisionCache(3)
    made = Decision.deny("x", "y", "rev")
    for i in range(3):
        cache.put("rev", bytes([i]), made)
    assert cache.get("rev", bytes([0])) is made  # 0 is now the most recent
    cache.put("rev", bytes([3]), made)
    cache.put("rev", bytes([4]), made)
    assert len(cache) == 3
    assert cache.get("rev", bytes([1])) is None and cache.get("rev", bytes([2])) is None
    assert cache.get("rev", bytes([0])) is made and cache.get("rev", bytes([4])) is made
    assert cache.get("other-rev", bytes([0])) is None


def test_disabled_cache_and_foreign_revision_keep_nothing() -> None:
    """Size 0 caches nothing; a decision made by another revision is never stored."""
    off = DecisionCache(0)
    off.put("rev", b"k", Decision.deny("x", "y", "rev"))
    assert len(off) == 0
    on = DecisionCache(4)
    on.put("rev-b", b"k", Decision.deny("x", "y", "rev-a"))
    assert len(on) == 0
    with pytest.raises(ValueError):
        DecisionCache(-1)


def test_hidden_field_becomes_a_placeholder_on_a_copy() -> None:
    """A non-empty hidden string reads "-"; other values stay; the caller's dict is unchanged."""
    view = InputView.from_data(json.loads((POLICIES / "data.json").read_text()))
    assert view.hidden == tuple(tuple(p.split(".")) for p in HIDDEN)
    item = policy_input()
    original = copy.deepcopy(item)
    seen = view.apply(item)
    assert item == original
    assert seen["call"]["id"] == "-" and seen["context"]["time"] == "-"
    assert seen["principal"] is item["principal"] and seen["skill"] is item["skill"]
    for kept in ("", 7, None, ["c"]):
        item["call"]["id"] = kept
        assert view.apply(item)["call"]["id"] == kept


def test_key_is_canonical_and_ignores_only_hidden_fields() -> None:
    """Key order does not matter, hidden fields do not, and any other field does."""
    view = InputView.from_data(json.loads((POLICIES / "data.json").read_text()))
    item = policy_input()
    encoded = view.encode(item)
    assert encoded is not None
    reordered = dict(reversed(list(copy.deepcopy(item).items())))
    assert view.encode(reordered) == encoded
    assert view.encode(_varied(item, 5)) == encoded
    for section, field, value in (
        ("principal", "id", "bob"),
        ("context", "rate", {"minute": 1, "hour": 0}),
        ("context", "skill_runs", 4),
        ("call", "paths", [{"field": "p", "resolved": "/x", "access": "read"}]),
        ("skill", "digest", "sha256:" + "1" * 64),
    ):
        changed = copy.deepcopy(item)
        changed[section][field] = value
        other = view.encode(changed)
        assert other is not None and other[1] != encoded[1], (section, field)
    assert view.encode([item]) is None


# -- the shipped policy reads no hidden field (so hiding changes no answer) ---------------


@pytest.fixture(scope="module")
def plain_engine(tmp_path_factory: pytest.TempPathFactory) -> EmbeddedEngine:
    """The shipped policies with nothing hidden and no cache: the reference answers."""
    return EmbeddedEngine(_without_hidden(tmp_path_factory.mktemp("plain")), cache_size=0)


@pytest.fixture(scope="module")
def cached_engine() -> EmbeddedEngine:
    """The shipped policies with the default cache, shared by the whole module."""
    return EmbeddedEngine(POLICIES)


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def cached_opa(opa_server: LocalOpaServer) -> AsyncIterator[OpaServerEngine]:
    """The OPA server engine with its (opt-in) decision cache on."""
    engine = await OpaServerEngine.connect(
        opa_server.url, POLICIES, timeout_ms=30_000, token=opa_server.token, cache_size=4096
    )
    yield engine
    await engine.close()


@ON_MODULE_LOOP
@pytest.mark.opa
async def test_corpus_through_the_cache_on_both_engines(
    cached_engine: EmbeddedEngine, plain_engine: EmbeddedEngine, cached_opa: OpaServerEngine
) -> None:
    """Every corpus input, fresh and again with other hidden values (a hit), gets from both
    cached engines the answer of an uncached engine that hides nothing."""
    for n, (name, item) in enumerate(sorted(CORPUS.items())):
        reference = plain_engine.decide_sync(item)
        for variant in (item, _varied(item, n)):
            embedded = await cached_engine.decide(variant)
            served = await cached_opa.decide(variant)
            assert _same_answer(embedded, reference), name
            assert served == embedded, name
    for engine in (cached_engine.cache, cached_opa.cache):
        assert engine.hits >= len(CORPUS) - 1, "the variants must be hits"


FIELD_VALUES: dict[tuple[str, str], Any] = {
    ("principal", "id"): st.sampled_from(["alice", "bob", "admin", "", "x" * 70]),
    ("principal", "roles"): st.lists(
        st.sampled_from(["user", "admin", "operator", "viewer", "nobody"]), max_size=3
    ),
    ("skill", "name"): st.sampled_from(["file-read", "shell-run", "mail-send", "Bad Name"]),
    ("skill", "source"): st.sampled_from(["builtin", "user", "registry"]),
    ("skill", "publisher"): st.sampled_from(["nexflow", "someone", None]),
    ("skill", "publisher_verified"): st.booleans(),
    ("skill", "permissions"): st.lists(
        st.sampled_from(["shell", "filesystem", "network", "secrets"]), max_size=3, unique=True
    ),
    ("skill", "network"): st.lists(
        st.sampled_from(["api.github.com:443", "example.com", "*.evil.org"]), max_size=2
    ),
    ("skill", "secrets"): st.lists(st.sampled_from(["github_token", "smtp"]), max_size=2),
    ("skill", "limits"): st.dictionaries(
        st.sampled_from(["wall_time_ms", "pids", "memory_bytes"]),
        st.integers(min_value=-1, max_value=10**9),
        max_size=2,
    ),
    ("skill", "filesystem"): st.lists(
        st.fixed_dictionaries(
            {
                "path": st.sampled_from(["/home/me/workspace", "/etc", "/home/me/workspace/a"]),
                "mode": st.sampled_from(["ro", "rw"]),
            }
        ),
        max_size=2,
    ),
    ("context", "approved"): st.booleans(),
    ("context", "rate"): st.fixed_dictionaries(
        {"minute": st.integers(0, 130), "hour": st.integers(0, 3100)}
    ),
    ("context", "skill_runs"): st.integers(0, 3),
    ("context", "workspace"): st.sampled_from(["/home/me/workspace", "/srv", "rel/path"]),
}


@given(
    changes=st.lists(
        st.sampled_from(sorted(FIELD_VALUES)).flatmap(
            lambda key: st.tuples(st.just(key), FIELD_VALUES[key])
        ),
        min_size=1,
        max_size=4,
    ),
    hidden_seed=st.integers(0, 10**6),
)
@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_mutated_inputs_never_get_a_wrong_hit(
    cached_engine: EmbeddedEngine,
    plain_engine: EmbeddedEngine,
    changes: list[tuple[tuple[str, str], Any]],
    hidden_seed: int,
) -> None:
    """Mutating fields the policy reads (and the hidden ones at random), the long-lived
    cached engine always answers as the uncached engine that hides nothing."""
    item = policy_input()
    for (section, field), value in changes:
        item[section][field] = value
    item = _varied(item, hidden_seed)
    misses = cached_engine.cache.misses
    cached = cached_engine.decide_sync(item)
    assert _same_answer(cached, plain_engine.decide_sync(item)), item
    again = cached_engine.decide_sync(_varied(item, hidden_seed + 1))
    assert again is cached and cached_engine.cache.misses <= misses + 1


def test_a_changed_read_field_misses() -> None:
    """After a decision is cached, changing any one field the policy sees is a miss."""
    cached_engine = EmbeddedEngine(POLICIES)
    base = policy_input(["operator"], ["network"], network=["api.github.com:443"])
    cached_engine.decide_sync(base)
    for section, field, value in (
        ("principal", "roles", ["user"]),
        ("context", "rate", {"minute": 120, "hour": 0}),
        ("context", "approved", True),
        ("skill", "network", ["example.com:443"]),
        ("call", "hosts", [{"field": "url", "host": "api.github.com", "port": 443}]),
    ):
        changed = copy.deepcopy(base)
        changed[section][field] = value
        before = cached_engine.cache.misses
        cached_engine.decide_sync(changed)
        assert cached_engine.cache.misses == before + 1, (section, field)
        cached_engine.decide_sync(changed)
        assert cached_engine.cache.misses == before + 1, "the same input again is a hit"


# -- reloads forget every decision -------------------------------------------------------


def _deny_everyone(policies: Path) -> None:
    rule = (
        "package nexflow.authz\n\n"
        '_violations contains _reason("closed", "closed for maintenance") if true\n'
    )
    (policies / "nexflow" / "authz" / "closed.rego").write_text(rule)


def _limit_users(policies: Path) -> None:
    data = json.loads((policies / "data.json").read_text())
    data["nexflow"]["config"]["roles"]["user"]["rate_limit"] = {"per_minute": 0}
    (policies / "data.json").write_text(json.dumps(data))


async def _check_reloads_forget(engine: EmbeddedEngine | OpaServerEngine, policies: Path) -> None:
    item = policy_input()
    assert (await engine.decide(item)).allow
    assert (await engine.decide(item)).allow and engine.cache.hits >= 1
    _limit_users(policies)  # a data change
    await reloaded(engine, policies)
    assert len(engine.cache) == 0
    assert (await engine.decide(item)).codes == ("rate_limited",)
    _deny_everyone(policies)  # a policy file change
    await reloaded(engine, policies)
    assert "closed" in (await engine.decide(item)).codes


async def test_embedded_reload_forgets_cached_decisions(policy_copy: Path) -> None:
    """A data change and a policy file change, each reloaded by the watcher, are seen at once."""
    await _check_reloads_forget(EmbeddedEngine(policy_copy), policy_copy)


@pytest.mark.opa
async def test_opa_reload_forgets_cached_decisions(policy_copy: Path) -> None:
    """The same with the OPA server engine and its cache on."""
    with LocalOpaServer() as server:
        engine = await OpaServerEngine.connect(
            server.url, policy_copy, token=server.token, cache_size=64
        )
        try:
            await _check_reloads_forget(engine, policy_copy)
        finally:
            await engine.close()


async def test_a_miss_does_not_block_the_event_loop(tmp_path: Path) -> None:
    """While a slow decision evaluates, other coroutines keep running."""
    root = tmp_path / "slow"
    (root / "nexflow" / "authz").mkdir(parents=True)
    (root / "data.json").write_text("{}")
    (root / "nexflow" / "authz" / "slow.rego").write_text(
        "package nexflow.authz\n\ndecision := count([x | some x in numbers.range(1, 300000)])\n"
    )
    engine = EmbeddedEngine(root)
    ticks = 0

    async def tick() -> None:
        nonlocal ticks
        while True:
            await asyncio.sleep(0.001)
            ticks += 1

    ticker = asyncio.create_task(tick())
    try:
        loop = asyncio.get_running_loop()
        started = loop.time()
        decided = await engine.decide(policy_input())
        elapsed = loop.time() - started
    finally:
        ticker.cancel()
    assert decided.codes == ("policy_undefined",)
    assert elapsed > 0.02, "the policy must be slow for this test to mean anything"
    assert ticks >= 5, (ticks, elapsed)
