"""Fixtures shared by the e2e tests: the skill library's network tests (one set per session
and backend) and the marketplace tests' registry."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from registry.tests.server import Server, new_publisher, start
from tests.skill_daemons import Daemons
from tests.skill_http_fakes import FakeServer
from tests.skill_secret_world import open_operator, secret_policy, store_secrets
from tests.skill_world import World, close_world, open_world, start_servers


@pytest.fixture(scope="session")
def skill_servers(
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[FakeServer, Daemons]]:
    """The HTTP fakes and the real daemons (SMTP, CalDAV, DNS, TLS) on loopback."""
    web, daemons = start_servers(tmp_path_factory.mktemp("skill-daemons"))
    yield web, daemons
    daemons.close()
    web.close()


@pytest.fixture(
    scope="session",
    params=[
        pytest.param("docker", marks=pytest.mark.docker),
        pytest.param("nsjail", marks=pytest.mark.nsjail),
    ],
)
def skill_world(
    request: pytest.FixtureRequest,
    skill_servers: tuple[FakeServer, Daemons],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[World]:
    """A stack per backend, shared by every network skill test of the session."""
    world = open_world(
        tmp_path_factory.mktemp(f"skills-{request.param}"), str(request.param), *skill_servers
    )
    yield world
    close_world(world)


@pytest.fixture(
    scope="session",
    params=[
        pytest.param("docker", marks=pytest.mark.docker),
        pytest.param("nsjail", marks=pytest.mark.nsjail),
    ],
)
def secret_world(
    request: pytest.FixtureRequest,
    skill_servers: tuple[FakeServer, Daemons],
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[tuple[World, httpx.Client]]:
    """A stack whose policy grants the login secrets to admins, with them stored; and an
    operator's client that may run skills but is granted no secret."""
    tmp = tmp_path_factory.mktemp(f"skill-secrets-{request.param}")
    env = {"NEXFLOW_POLICY_DIR": str(secret_policy(tmp))}
    w = open_world(tmp, str(request.param), *skill_servers, env=env)
    store_secrets(w)
    with open_operator(w) as uma:
        yield w, uma
    close_world(w)


@pytest.fixture(scope="module")
def registry(tmp: Path) -> Iterator[tuple[Server, str, Path]]:
    """A real `nexflow-registry serve` with publisher `acme`: (server, publish token,
    private key file), under the requesting module's own `tmp` folder (each module that
    uses it defines `tmp`)."""
    server = start(tmp / "registry")
    key = tmp / "acme.key"
    token = new_publisher(server, "acme", key)
    yield server, token, key
    server.stop()
