"""Conformance: the embedded engine and a real OPA server give identical decisions.

The corpus is ``conformance/generate.py`` (deterministic, built from the current
``policies/data.json``) plus the hand-written ``conformance/cases/*.json``; it is
evaluated against the current ``policies/`` directory, so it keeps working as the Rego
model grows. Only the hand-written cases state an expected outcome.
"""

from __future__ import annotations

import dataclasses
import importlib.util
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from nexflow_control.policy import Decision, EmbeddedEngine, LocalOpaServer, OpaServerEngine

HERE = Path(__file__).resolve().parent
POLICIES = HERE.parents[2] / "policies"
CASES = HERE / "conformance" / "cases"

pytestmark = [pytest.mark.opa]
ON_MODULE_LOOP = pytest.mark.asyncio(loop_scope="module")  # the loop opa_engine lives on


def _generator() -> Any:
    spec = importlib.util.spec_from_file_location(
        "conformance_generate", HERE / "conformance" / "generate.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _hand_written() -> dict[str, dict[str, Any]]:
    return {f"case/{p.stem}": json.loads(p.read_text()) for p in sorted(CASES.glob("*.json"))}


GENERATOR = _generator()
GENERATED: dict[str, Any] = GENERATOR.generate(POLICIES)
NETWORK: dict[str, Any] = {**GENERATOR.network_cases(), **GENERATOR.model_cases()}
HAND_WRITTEN = _hand_written()
CORPUS: dict[str, Any] = {**GENERATED, **{k: v["input"] for k, v in HAND_WRITTEN.items()}}


@pytest.fixture(scope="module")
def opa_server() -> Iterator[LocalOpaServer]:
    """A real `opa run --server` from the built binary, on a free port, torn down after."""
    with LocalOpaServer() as server:
        yield server


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def opa_engine(opa_server: LocalOpaServer) -> AsyncIterator[OpaServerEngine]:
    """The OPA server engine, with the repository's policies uploaded."""
    engine = await OpaServerEngine.connect(
        opa_server.url, POLICIES, timeout_ms=30_000, token=opa_server.token
    )
    yield engine
    await engine.close()


def _strings_at(items: Any, section: str, field: str) -> set[str]:
    """Every string in the list ``item[section][field]`` across the corpus."""
    found: set[str] = set()
    for item in items:
        part = item.get(section) if isinstance(item, dict) else None
        values = part.get(field) if isinstance(part, dict) else None
        if isinstance(values, list):
            found |= {v for v in values if isinstance(v, str)}
    return found


def _outcome(d: Decision) -> str:
    return "allow" if d.allow else ("approval" if d.require_approval else "deny")


@pytest.fixture(scope="module")
def embedded_decisions(engine: EmbeddedEngine) -> dict[str, Decision]:
    """The embedded engine's decision for every corpus input, made once per module."""
    return {name: engine.decide_sync(item) for name, item in CORPUS.items()}


@ON_MODULE_LOOP
@pytest.mark.parametrize("name", sorted(CORPUS))
async def test_engines_decide_identically(
    name: str,
    engine: EmbeddedEngine,
    embedded_decisions: dict[str, Decision],
    opa_engine: OpaServerEngine,
) -> None:
    """For each corpus input both engines return the same Decision, field for field."""
    embedded = embedded_decisions[name]
    served = await opa_engine.decide(CORPUS[name])
    assert dataclasses.asdict(served) == dataclasses.asdict(embedded), name
    assert served == embedded
    assert served.revision == embedded.revision == engine.revision


@ON_MODULE_LOOP
@pytest.mark.parametrize("name", sorted(HAND_WRITTEN))
async def test_hand_written_cases_decide_as_expected(
    name: str, engine: EmbeddedEngine, opa_engine: OpaServerEngine
) -> None:
    """The hand-written cases get their stated outcome and reason codes from both engines."""
    expect = HAND_WRITTEN[name]["expect"]
    for decided in (await engine.decide(CORPUS[name]), await opa_engine.decide(CORPUS[name])):
        assert decided.allow is expect["allow"], decided
        assert decided.require_approval is expect["require_approval"], decided
        assert sorted(set(decided.codes)) == sorted(expect["codes"]), decided


def test_corpus_covers_every_outcome_role_and_class(
    embedded_decisions: dict[str, Decision],
) -> None:
    """The corpus is big enough and reaches allow, deny and approval, every role and class."""
    assert len(CORPUS) >= 100
    outcomes = {_outcome(d) for d in embedded_decisions.values()}
    assert outcomes == {"allow", "deny", "approval"}
    config = json.loads((POLICIES / "data.json").read_text())["nexflow"]["config"]
    used_roles = _strings_at(CORPUS.values(), "principal", "roles")
    used_classes = _strings_at(CORPUS.values(), "skill", "permissions")
    assert set(config["roles"]) <= used_roles
    assert set(config["permission_classes"]) <= used_classes
    codes = {c for d in embedded_decisions.values() for c in d.codes}
    assert {
        "malformed_input",
        "limit_above_ceiling",
        "path_outside_grant",
        "rate_limited",
        "approval_required_unknown_publisher",
        "approval_required_new_version",
        "approval_required_shell",
    } <= codes


@pytest.fixture(scope="module")
def allowlist_policies(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A copy of the policies with a non-empty network allowlist."""
    return Path(GENERATOR.with_allowlist(POLICIES, tmp_path_factory.mktemp("p") / "policies"))


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def allowlist_engines(
    allowlist_policies: Path,
) -> AsyncIterator[tuple[EmbeddedEngine, OpaServerEngine]]:
    """Both engines on the allowlist copy (a second OPA server: one per policy directory)."""
    with LocalOpaServer() as server:
        opa = await OpaServerEngine.connect(
            server.url, allowlist_policies, timeout_ms=30_000, token=server.token
        )
        yield EmbeddedEngine(allowlist_policies), opa
        await opa.close()


@ON_MODULE_LOOP
async def test_engines_agree_on_network_grants(
    allowlist_engines: tuple[EmbeddedEngine, OpaServerEngine],
) -> None:
    """On the configured copy (allowlist, principals, per-skill overrides, extra roots) both
    engines give the same decisions, and every outcome occurs."""
    embedded, opa = allowlist_engines
    differ, granted, codes = [], 0, set()
    for name, item in sorted(NETWORK.items()):
        mine, theirs = await embedded.decide(item), await opa.decide(item)
        if mine != theirs:
            differ.append(f"{name}: embedded {mine} != opa {theirs}")
        granted += bool(mine.allow and mine.grants.network)
        codes |= set(mine.codes)
    assert differ == []
    assert granted >= 5 and len(NETWORK) - granted >= 5
    assert {
        "rate_limited",
        "skill_disabled",
        "skill_not_allowed_for_role",
        "limit_above_ceiling",
        "approval_required_skill",
        "approval_required_write_outside_workspace",
        "approval_required_unknown_publisher",
        "approval_required_new_version",
    } <= codes, codes


def _single_value(output: Any) -> Any:
    """The one expression value of a regopy query, or None when the rule is undefined."""
    text = str(output).strip()
    return None if text == "undefined" else json.loads(text)["expressions"][0]


def test_fast_and_detailed_input_checks_agree() -> None:
    """input.rego checks well-formedness twice (one fast rule, and per-field errors);
    on every corpus input, `_well_formed` holds exactly when no shape error is found."""
    import regopy
    from nexflow_control.policy._source import read_policy_dir

    source = read_policy_dir(POLICIES)
    builder = regopy.Interpreter()
    for name, text in sorted(source.modules.items()):
        builder.add_module(name, text)
    builder.add_data(source.data)
    entrypoints = ["nexflow/authz/_well_formed", "nexflow/authz/_shape_errors"]
    bundle = builder.build(None, entrypoints)
    runner = regopy.Interpreter()
    disagree = []
    for name, item in sorted({**CORPUS, **NETWORK}.items()):
        if name.startswith("huge/") or name == "case/lone-surrogate":
            continue  # slow on rego-cpp; and not JSON text, respectively
        runner.set_input_term(json.dumps(item))
        fast = runner.query_bundle_entrypoint(bundle, entrypoints[0])
        errors = runner.query_bundle_entrypoint(bundle, entrypoints[1])
        assert fast.ok() and errors.ok(), name
        well_formed = _single_value(fast) is True  # None: undefined
        error_list = _single_value(errors)
        if well_formed != (error_list == []):
            disagree.append(f"{name}: _well_formed={well_formed}, errors={error_list}")
    assert disagree == []
