"""End to end over HTTP: the built-in http-request skill against a real NetLab.

`nexflow up --allow-host ...` with its executor's proxy connecting out from the lab's
world namespace, real HTTP/HTTPS servers and dnsmasq; calls through the HTTP API, the
call's story (with its egress events) read back over HTTP. On both backends.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from tests import netlab
from tests.harness import Stack, start_stack

pytestmark = [
    pytest.mark.e2e,
    pytest.mark.skipif(netlab.available() is not None, reason=str(netlab.available())),
    pytest.mark.xdist_group("egress-e2e"),
]

API, METADATA = netlab.API, netlab.METADATA


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[netlab.World]:
    with netlab.NetLab(tmp_path_factory.mktemp("netlab-e2e")) as net:
        yield netlab.World(net)


@pytest.fixture(
    scope="module",
    params=[
        pytest.param("nsjail", marks=pytest.mark.nsjail),
        pytest.param("docker", marks=pytest.mark.docker),
    ],
)
def net_stack(
    request: pytest.FixtureRequest, lab: netlab.World, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    egress = lab.executor_egress()
    env = {
        "NEXFLOW_EXECUTOR_EGRESS__NETNS": egress["netns"],
        "NEXFLOW_EXECUTOR_EGRESS__NAMESERVERS": json.dumps(egress["nameservers"]),
        "NEXFLOW_EXECUTOR_EGRESS__CA_DIR": egress["ca_dir"],
        "NEXFLOW_EXECUTOR_DOCKER__POOL__SIZE": "0",
    }
    stack = start_stack(
        tmp_path_factory.mktemp(f"egress-{request.param}"),
        "--sandbox", request.param,
        "--allow-host", "api.test",
        "--allow-host", "meta.test:80",
        env=env,
    )  # fmt: skip
    yield stack
    stack.stop()


def story(stack: Stack, call_id: str) -> dict[str, Any]:
    reply = stack.client.get(f"/api/v1/calls/{call_id}")
    assert reply.status_code == 200, reply.text
    data: dict[str, Any] = reply.json()
    return data


def egress_events(stack: Stack, call_id: str) -> list[dict[str, Any]]:
    """The call's egress events in connection order (they are recorded as each ends)."""
    events = [e for e in story(stack, call_id)["events"] if e["action"] == "call.egress"]
    return sorted(events, key=lambda e: e["payload"]["seq"])


def test_get_over_http_reaches_the_allowed_host(net_stack: Stack, lab: netlab.World) -> None:
    """GET http://api.test works; the call's story carries the allowed egress event."""
    reply = net_stack.call("http-request", {"url": "http://api.test/hello"})
    assert reply.status_code == 200, reply.text
    result = reply.json()
    out = result["output"]
    assert out["status"] == 200 and json.loads(out["body"])["server"] == "api"
    (event,) = egress_events(net_stack, result["call_id"])
    assert event["decision"] == "allow" and event["reason_codes"] == ["granted"]
    payload = event["payload"]
    assert (payload["host"], payload["port"], payload["address"]) == ("api.test", 80, API)
    assert payload["bytes_down"] > 0
    actions = [e["action"] for e in story(net_stack, result["call_id"])["events"]]
    assert actions == [
        "call.requested",
        "call.decided",
        "call.dispatched",
        "call.egress",
        "call.finished",
    ]


def test_post_over_https_goes_through_connect(net_stack: Stack, lab: netlab.World) -> None:
    """POST https://api.test with headers and a body: CONNECT tunnel, verified TLS."""
    value = {
        "url": "https://api.test/submit",
        "method": "POST",
        "headers": {"X-Token": "t0k"},
        "body": "payload",
    }
    reply = net_stack.call("http-request", value)
    assert reply.status_code == 200, reply.text
    echoed = json.loads(reply.json()["output"]["body"])
    assert (echoed["method"], echoed["body"], echoed["headers"]["X-Token"]) == (
        "POST",
        "payload",
        "t0k",
    )
    (event,) = egress_events(net_stack, reply.json()["call_id"])
    assert event["payload"]["method"] == "CONNECT" and event["payload"]["port"] == 443


def test_host_not_on_the_allowlist_is_denied_before_running(
    net_stack: Stack, lab: netlab.World
) -> None:
    """A URL on another host is denied by policy with network_not_allowed; nothing runs."""
    before = len(lab.other.hits())
    reply = net_stack.call("http-request", {"url": "http://other.test/"})
    assert reply.status_code == 403, reply.text
    body = reply.json()
    assert "network_not_allowed" in [r["code"] for r in body["reasons"]]
    actions = [e["action"] for e in story(net_stack, body["call_id"])["events"]]
    assert "call.dispatched" not in actions
    assert len(lab.other.hits()) == before


def test_redirect_to_another_host_is_refused_and_audited(
    net_stack: Stack, lab: netlab.World
) -> None:
    """api.test redirecting to other.test: the skill reports egress_refused, other.test sees
    nothing, and the refused attempt is in the call's audit trail."""
    before = len(lab.other.hits())
    url = "http://api.test/redirect?to=http://other.test/stolen"
    reply = net_stack.call("http-request", {"url": url})
    result = reply.json()
    assert result["status"] == "failed", result
    assert result["output"]["error"] == "egress_refused"
    assert len(lab.other.hits()) == before
    events = egress_events(net_stack, result["call_id"])
    assert [(e["payload"]["host"], e["decision"]) for e in events] == [
        ("api.test", "allow"),
        ("other.test", "deny"),
    ]
    assert events[1]["reason_codes"] == ["host_not_granted"]


def test_allowed_name_resolving_to_metadata_is_refused(net_stack: Stack, lab: netlab.World) -> None:
    """Even an allowlisted name is refused when it resolves to 169.254.169.254."""
    before = len(lab.meta.hits())
    reply = net_stack.call("http-request", {"url": "http://meta.test/latest/meta-data/"})
    result = reply.json()
    assert result["output"]["error"] == "egress_refused", result
    assert len(lab.meta.hits()) == before
    (event,) = egress_events(net_stack, result["call_id"])
    assert event["reason_codes"] == ["address_link_local"]
    assert event["payload"]["address"] == METADATA


def test_credentials_in_the_url_are_invalid_input(net_stack: Stack) -> None:
    """user:pass@host is refused before policy, naming the field."""
    reply = net_stack.call("http-request", {"url": "http://u:p@api.test/"})
    assert reply.status_code == 422, reply.text
    assert reply.json()["error"] == "invalid_input" and reply.json()["field"] == "input.url"
