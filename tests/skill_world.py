"""The world the network skills are tested in: one stack per sandbox backend that allows
`127.0.0.1:*` and trusts the test CA, an approver, the HTTP fakes and the real daemons."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import httpx

from tests.harness import Stack, start_stack
from tests.skill_calls import approver
from tests.skill_daemons import Daemons
from tests.skill_http_fakes import Fakes, FakeServer, serve

# The logins the authenticating SMTP and CalDAV servers know (the skills get them as
# brokered secrets): letters and digits, so only the per-call redaction can catch them.
SMTP_USER, SMTP_PASSWORD = "mailbot", "Hs4kQ9wZr2Lm7xVb"
CALDAV_USER, CALDAV_PASSWORD = "ann", "Yt6pN3cW8qRj5sDf"


@dataclass
class World:
    stack: Stack
    otto: httpx.Client
    web: FakeServer
    daemons: Daemons


def fakes() -> Fakes:
    """The metric series and log lines the monitoring skills query."""
    now = int(time.time())
    return Fakes(
        series=[
            ({"__name__": "up", "job": "node", "instance": "a"}, 1.0),
            ({"__name__": "up", "job": "node", "instance": "b"}, 0.0),
            ({"__name__": "up", "job": "db", "instance": "c"}, 1.0),
        ],
        logs=[
            ({"app": "api"}, (now - 30) * 10**9, "GET /ok 200"),
            ({"app": "api"}, (now - 20) * 10**9, "error: db down"),
            ({"app": "api"}, (now - 10) * 10**9, "error: db still down"),
            ({"app": "web"}, (now - 5) * 10**9, "error: elsewhere"),
        ],
    )


def start_servers(workdir: Path) -> tuple[FakeServer, Daemons]:
    web = serve(fakes())
    daemons = Daemons(workdir)
    try:
        daemons.start_smtp()
        daemons.start_caldav()
        daemons.start_dns(
            {"api.test": "11.22.33.10", "v6.test": "fd00::10"}, {"api.test": "v=spf1 -all"}
        )
        daemons.start_tls()
        daemons.start_smtp_auth(SMTP_USER, SMTP_PASSWORD)
        daemons.start_caldav_auth(CALDAV_USER, CALDAV_PASSWORD)
    except BaseException:
        daemons.close()
        web.close()
        raise
    return web, daemons


def open_world(
    workdir: Path,
    backend: str,
    web: FakeServer,
    daemons: Daemons,
    env: dict[str, str] | None = None,
) -> World:
    """A stack on `backend` (with `env` added to its environment) and its approver."""
    assert daemons.ca is not None
    env = {"NEXFLOW_EXECUTOR_EGRESS__CA_DIR": str(daemons.ca.ca_dir), **(env or {})}
    stack = start_stack(workdir, "--sandbox", backend, "--allow-host", "127.0.0.1:*", env=env)
    return World(stack, approver(stack), web, daemons)


def close_world(world: World) -> None:
    world.otto.close()
    world.stack.stop()


__all__ = [
    "CALDAV_PASSWORD",
    "CALDAV_USER",
    "SMTP_PASSWORD",
    "SMTP_USER",
    "World",
    "close_world",
    "open_world",
    "start_servers",
]
