"""The OPA server engine against a real OPA: uploads, failures, fail-closed, self-repair."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from nexflow_control.policy import (
    POLICY_UNDEFINED,
    EmbeddedEngine,
    LocalOpaServer,
    OpaNotFound,
    OpaServerEngine,
    PolicyEngine,
    PolicyLoadError,
    PolicyUnavailable,
    find_opa_binary,
)

POLICIES = Path(__file__).resolve().parents[3] / "policies"
Inputs = Callable[..., dict[str, Any]]

pytestmark = [pytest.mark.opa]


@pytest.fixture
def server() -> Iterator[LocalOpaServer]:
    """A real OPA server of our own for one test."""
    with LocalOpaServer() as s:
        yield s


async def _connect(server: LocalOpaServer, policy_dir: Path, **kw: Any) -> OpaServerEngine:
    return await OpaServerEngine.connect(server.url, policy_dir, token=server.token, **kw)


def _policy(tmp_path: Path, files: dict[str, str]) -> Path:
    root = tmp_path / "p"
    for name, text in files.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_text(text)
    return root


async def test_engine_satisfies_protocol_and_matches_revision(server: LocalOpaServer) -> None:
    """The OPA engine is a PolicyEngine answering with the directory's own revision."""
    engine = await _connect(server, POLICIES)
    try:
        assert isinstance(engine, PolicyEngine)
        assert engine.revision == EmbeddedEngine(POLICIES).revision
    finally:
        await engine.close()


async def test_unreachable_server_fails_to_connect(tmp_path: Path) -> None:
    """Nothing listening: connect raises PolicyUnavailable naming the URL."""
    with pytest.raises(PolicyUnavailable, match=r"127\.0\.0\.1:9"):
        await OpaServerEngine.connect("http://127.0.0.1:9", POLICIES)


async def test_bad_url_is_a_load_error() -> None:
    """A URL with a path or another scheme is refused before any request."""
    for url in ("ftp://127.0.0.1:8181", "http://127.0.0.1:8181/v1/data", "127.0.0.1"):
        with pytest.raises(PolicyLoadError, match="opa_url"):
            await OpaServerEngine.connect(url, POLICIES)


async def test_dead_server_fails_closed(server: LocalOpaServer, inputs: Inputs) -> None:
    """Once the server is gone, decide raises PolicyUnavailable (the call must not run)."""
    engine = await _connect(server, POLICIES)
    try:
        assert (await engine.decide(inputs(["user"]))).allow
        server.stop()
        with pytest.raises(PolicyUnavailable, match="cannot reach"):
            await engine.decide(inputs(["user"]))
    finally:
        await engine.close()


async def test_slow_decision_times_out(
    server: LocalOpaServer, tmp_path: Path, inputs: Inputs
) -> None:
    """A decision slower than opa_timeout_ms raises PolicyUnavailable about the timeout."""
    rule = "decision := count([x | some x in numbers.range(1, 20000000)])"
    slow = _policy(tmp_path, {"slow.rego": f"package nexflow.authz\n\n{rule}\n"})
    engine = await _connect(server, slow, timeout_ms=100)
    try:
        started = time.monotonic()
        with pytest.raises(PolicyUnavailable, match="within 100 ms"):
            await engine.decide(inputs())
        assert time.monotonic() - started < 2
    finally:
        await engine.close()


async def test_evaluation_error_fails_closed(
    server: LocalOpaServer, tmp_path: Path, inputs: Inputs
) -> None:
    """A runtime conflict in the policy (OPA answers HTTP 500) raises PolicyUnavailable."""
    rules = "decision := 1 if input.principal\n\ndecision := 2 if input.skill\n"
    conflict = _policy(tmp_path, {"c.rego": f"package nexflow.authz\n\n{rules}"})
    engine = await _connect(server, conflict)
    try:
        with pytest.raises(PolicyUnavailable, match="HTTP 500"):
            await engine.decide(inputs())
    finally:
        await engine.close()


@pytest.mark.parametrize(
    "rego",
    ["decision := 1 if false", 'decision := {"allow": true}'],
    ids=["undefined", "wrong-shape"],
)
async def test_undefined_or_bad_decision_is_policy_undefined(
    server: LocalOpaServer, tmp_path: Path, inputs: Inputs, rego: str
) -> None:
    """An undefined or malformed decision is a policy_undefined deny, as in the embedded engine."""
    root = _policy(tmp_path, {"p.rego": f"package nexflow.authz\n\n{rego}\n"})
    engine = await _connect(server, root)
    try:
        served = await engine.decide(inputs())
        assert served.codes == (POLICY_UNDEFINED,) and not served.allow
        assert served == await EmbeddedEngine(root).decide(inputs())
    finally:
        await engine.close()


async def test_server_that_lost_the_policy_gets_it_again(
    server: LocalOpaServer, inputs: Inputs
) -> None:
    """If OPA forgets the policy (a restart), the next decision uploads it again and decides."""
    engine = await _connect(server, POLICIES)
    try:
        headers = {"Authorization": f"Bearer {server.token}"}
        async with httpx.AsyncClient(base_url=server.url, headers=headers) as client:
            ids = [p["id"] for p in (await client.get("/v1/policies")).json()["result"]]
            for policy_id in ids:
                if policy_id.startswith("nexflow-control/"):
                    assert (await client.delete(f"/v1/policies/{policy_id}")).status_code == 200
            assert (await client.delete("/v1/data/nexflow_control")).status_code == 204
        decided = await engine.decide(inputs(["user"]))
        assert decided.allow and decided.revision == engine.revision
    finally:
        await engine.close()


def test_local_server_requires_its_token(server: LocalOpaServer) -> None:
    """Other local users cannot read or change the private server's policy without the token."""
    with httpx.Client(base_url=server.url) as client:
        assert client.get("/health").status_code == 200
        assert client.get("/v1/policies").status_code == 401
        assert client.put("/v1/data/nexflow", json={}).status_code == 401
        ok = client.get("/v1/policies", headers={"Authorization": f"Bearer {server.token}"})
        assert ok.status_code == 200


async def test_packages_referring_to_each_other_upload_and_reload(
    server: LocalOpaServer, tmp_path: Path, inputs: Inputs
) -> None:
    """Several packages and files in any order upload; a rule moved between files reloads."""
    lib = "package nexflow.lib\n\nlimit := 7\n"
    main = (
        "package nexflow.authz\n\nimport data.nexflow.lib\n\n"
        'decision := {"allow": false, "require_approval": false, "reasons": [_r], '
        '"grants": {"filesystem": [], "network": [], "limits": {}}}\n'
    )
    root = _policy(
        tmp_path,
        {
            "a/main.rego": main,
            "a/reason.rego": 'package nexflow.authz\n\n_r := {"code": "x", "message": "m"}\n',
            "lib.rego": lib,
        },
    )
    engine = await _connect(server, root)
    try:
        assert (await engine.decide(inputs())).codes == ("x",)
        (root / "a/reason.rego").write_text("package nexflow.authz\n\n_other := 1\n")
        (root / "a/main.rego").write_text(main + '\n_r := {"code": "y", "message": "m"}\n')
        result = await engine.reload()
        assert result.ok and result.changed, result.error
        assert (await engine.decide(inputs())).codes == ("y",)
        assert (await engine.decide(inputs())) == await EmbeddedEngine(root).decide(inputs())
    finally:
        await engine.close()


async def test_failed_reload_names_the_file_and_keeps_deciding(
    server: LocalOpaServer, policy_copy: Path, inputs: Inputs
) -> None:
    """A type error in one file is reported with that file and line; the old policy decides."""
    engine = await _connect(server, policy_copy)
    try:
        before = engine.revision
        limits = policy_copy / "nexflow/authz/limits.rego"
        lines = limits.read_text().splitlines()
        limits.write_text("\n".join([*lines, "", "_broken := startswith(1, 2)", ""]))
        result = await engine.reload()
        assert not result.ok and result.revision == before
        assert f"nexflow/authz/limits.rego:{len(lines) + 2}" in (result.error or "")
        decided = await engine.decide(inputs(["user"]))
        assert decided.allow and decided.revision == before
    finally:
        await engine.close()


def test_missing_binary_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Without an opa binary next to Python or on PATH, the error says where it looked."""
    monkeypatch.setattr(sys, "executable", str(tmp_path / "python"))
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(OpaNotFound, match="make opa"):
        find_opa_binary()


def test_server_dies_with_its_parent(tmp_path: Path) -> None:
    """SIGKILL of the process that started OPA stops OPA too (parent-death signal)."""
    script = (
        "import sys, time\n"
        "from nexflow_control.policy import LocalOpaServer\n"
        "s = LocalOpaServer().start()\n"
        "print(s.pid, flush=True)\n"
        "time.sleep(60)\n"
    )
    with subprocess.Popen(
        [sys.executable, "-c", script], stdout=subprocess.PIPE, text=True
    ) as parent:
        try:
            assert parent.stdout is not None
            opa_pid = int(parent.stdout.readline())
            os.kill(opa_pid, 0)  # alive
        finally:
            parent.send_signal(signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        try:
            os.kill(opa_pid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.05)
    raise AssertionError(f"OPA (pid {opa_pid}) outlived its parent")


def test_opa_binary_is_found() -> None:
    """The built binary is where `make setup` puts it."""
    assert find_opa_binary() == Path(sys.executable).with_name("opa")
    assert shutil.which(str(find_opa_binary()))
