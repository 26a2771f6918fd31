"""Who may approve (`data.nexflow.authz.approval`): both engines give the same answer."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from nexflow_control.policy import EmbeddedEngine, LocalOpaServer, OpaServerEngine

POLICIES = Path(__file__).resolve().parents[3] / "policies"

pytestmark = [pytest.mark.opa, pytest.mark.asyncio(loop_scope="module")]


def _ask(approver: str, roles: list[str], requester: str) -> dict[str, Any]:
    return {
        "principal": {"id": approver, "roles": roles, "channel": "http"},
        "request": {
            "principal": {"id": requester, "roles": ["admin"], "channel": "http"},
            "skill": {"name": "shell-run", "digest": "sha256:00"},
            "reason_codes": ["approval_required_shell"],
        },
    }


# name: (input, allow, codes)
CASES: dict[str, tuple[dict[str, Any], bool, list[str]]] = {
    "operator-approves-admin": (_ask("olga", ["operator"], "admin"), True, []),
    "admin-approves-user": (_ask("admin", ["admin"], "alice"), True, []),
    "user-may-not": (_ask("alice", ["user"], "admin"), False, ["approver_role_not_allowed"]),
    "unknown-role": (_ask("eve", ["root"], "admin"), False, ["approver_role_not_allowed"]),
    "self-approval": (_ask("admin", ["admin"], "admin"), False, ["self_approval_not_allowed"]),
    "user-self": (
        _ask("alice", ["user"], "alice"),
        False,
        ["approver_role_not_allowed", "self_approval_not_allowed"],
    ),
    "malformed": ({"principal": {"id": "admin"}}, False, ["malformed_input"]),
}


@pytest.fixture(scope="module")
def opa_server() -> Iterator[LocalOpaServer]:
    with LocalOpaServer() as server:
        yield server


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def engines(
    opa_server: LocalOpaServer,
) -> AsyncIterator[tuple[EmbeddedEngine, OpaServerEngine]]:
    served = await OpaServerEngine.connect(
        opa_server.url, POLICIES, timeout_ms=30_000, token=opa_server.token
    )
    yield EmbeddedEngine(POLICIES), served
    await served.close()


@pytest.mark.parametrize("name", sorted(CASES))
async def test_engines_agree_on_who_may_approve(
    name: str, engines: tuple[EmbeddedEngine, OpaServerEngine]
) -> None:
    """Each case gets its expected allow and reason codes, identically from both engines."""
    embedded, served = engines
    value, allow, codes = CASES[name]
    here, there = await embedded.approve(value), await served.approve(value)
    assert dataclasses.asdict(here) == dataclasses.asdict(there), name
    assert here.allow is allow and list(here.codes) == codes, here
    assert here.revision == embedded.revision
