"""The egress proxy against real hosts: sandboxes reach exactly their granted hosts.

A NetLab (tests/netlab.py) gives real namespaces with their own addresses, real HTTP and
HTTPS servers, and dnsmasq; the executor's proxy connects out from the lab's world
namespace. Each attack runs in a real sandbox on both backends and fails the test if it
gets through — the target servers' hit logs show whether anything arrived.
"""

from __future__ import annotations

import asyncio
import json
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from nexflow.executor.v1 import executor_pb2 as pb
from nexflow_executor.settings import EgressSettings, Settings

from executor.tests.executor_testkit import Outcome, execute, request, serving
from tests import netlab

pytestmark = [
    pytest.mark.skipif(netlab.available() is not None, reason=str(netlab.available())),
    pytest.mark.xdist_group("egress"),
]

PROBE = Path(__file__).with_name("egress_probe.py")
API, OTHER, METADATA, INTRANET = netlab.API, netlab.OTHER, netlab.METADATA, netlab.INTRANET
HOST_SERVICE_PORT = netlab.HOST_SERVICE_PORT


@pytest.fixture(scope="module")
def lab(tmp_path_factory: pytest.TempPathFactory) -> Iterator[netlab.World]:
    with netlab.NetLab(tmp_path_factory.mktemp("netlab")) as net:
        yield netlab.World(net)


@pytest.fixture
def settings(settings: Settings, lab: netlab.World) -> Settings:
    """The kit's settings, with the proxy connecting out from the lab's world."""
    return settings.model_copy(update={"egress": EgressSettings(**lab.executor_egress())})


async def probe(
    stub: Any, skill_dir: Path, grants: list[str], actions: list[list[Any]]
) -> tuple[list[Any], Outcome]:
    """Run the probe script in a sandbox with `grants`; its results and the outcome."""
    if not (skill_dir / "probe.py").exists():
        shutil.copy(PROBE, skill_dir / "probe.py")
        (skill_dir / "probe.py").chmod(0o644)
    req = request(skill_dir, "probe.py", network_hosts=grants, stdin=json.dumps(actions).encode())
    outcome = await execute(stub, req)
    assert outcome.finished.exit_code == 0, outcome.stderr.decode()
    return json.loads(outcome.stdout), outcome


def egress(outcome: Outcome) -> list[pb.Egress]:
    """The call's egress records in the order the connections were made (they are sent
    as each connection ends, so a refused follow-up can arrive before its predecessor)."""
    records = [e.egress for e in outcome.events if e.HasField("egress")]
    return sorted(records, key=lambda r: r.seq)


def body(result: dict[str, Any]) -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(result["body"])
    return parsed


async def test_granted_host_over_http_is_reached_and_recorded(stub, skill_dir, lab):
    """A granted name is resolved by the proxy, reached over HTTP, and recorded with bytes."""
    before = len(lab.api.hits())
    (got,), outcome = await probe(
        stub, skill_dir, ["api.test:80"], [["fetch", "http://api.test/hello?x=1"]]
    )
    assert got["status"] == 200, got
    answer = body(got)
    assert answer["server"] == "api" and answer["path"] == "/hello?x=1"
    assert answer["headers"]["Host"] == "api.test"
    assert not any(k.lower().startswith("proxy-") for k in answer["headers"])
    assert len(lab.api.hits()) == before + 1
    (record,) = egress(outcome)
    assert (record.host, record.port, record.method) == ("api.test", 80, "GET")
    assert (record.address, record.allowed, record.reason) == (API, True, "granted")
    assert record.grant == "api.test:80"
    assert record.bytes_up > 0 and record.bytes_down > len(got["body"])


async def test_granted_host_over_https_goes_through_connect(stub, skill_dir, lab):
    """HTTPS to a granted host works through CONNECT, verified against the mounted CA."""
    before = len(lab.api_tls.hits())
    (got,), outcome = await probe(
        stub, skill_dir, ["api.test:443"], [["fetch", "https://api.test/tls"]]
    )
    assert got["status"] == 200, got
    assert body(got)["path"] == "/tls"
    assert len(lab.api_tls.hits()) == before + 1
    (record,) = egress(outcome)
    assert (record.method, record.host, record.port, record.allowed) == (
        "CONNECT",
        "api.test",
        443,
        True,
    )
    assert record.bytes_up > 0 and record.bytes_down > 0


async def test_host_not_granted_is_refused(stub, skill_dir, lab):
    """A host outside the grant gets 403 from the proxy and never sees a request."""
    before = len(lab.other.hits())
    results, outcome = await probe(
        stub,
        skill_dir,
        ["api.test:80"],
        [
            ["fetch", "http://other.test/"],
            ["fetch", "https://other.test/"],
            ["fetch", f"http://{API}/"],
        ],
    )
    assert (
        results[0]["status"] == 403
        and results[0]["headers"]["X-Nexflow-Egress"] == "host_not_granted"
    )
    assert "403" in results[1] or "Forbidden" in results[1], results[1]
    assert results[2]["status"] == 403, "the granted host's raw IP is not the granted name"
    assert len(lab.other.hits()) == before
    reasons = sorted((r.host, r.allowed, r.reason) for r in egress(outcome))
    assert reasons == [
        (API, False, "host_not_granted"),
        ("other.test", False, "host_not_granted"),
        ("other.test", False, "host_not_granted"),
    ]


async def test_no_way_around_the_proxy(stub, skill_dir, lab):
    """Direct TCP to a granted host, DNS (resolver and raw query), UDP and ICMP all fail."""
    before = len(lab.api.hits())
    results, outcome = await probe(
        stub,
        skill_dir,
        ["api.test:80"],
        [
            ["tcp", API, 80],
            ["tcp", "127.0.0.1", HOST_SERVICE_PORT],
            ["dns", "exfil-resolver-secret.api.test"],
            ["dnsquery", netlab.DNS_ADDRESS, "exfil-raw-secret.api.test"],
            ["udp", API, 9999],
            ["icmp", API],
        ],
    )
    direct, local, resolved, raw_dns, udp, icmp = results
    assert direct.startswith("error:") and local.startswith("error:")
    assert resolved.startswith("error:") and raw_dns.startswith("error:")
    assert udp.startswith("error:")
    assert all(r.startswith("error:") for r in icmp), icmp
    assert "exfil" not in lab.net.dns_queries(), "a query name left the sandbox"
    assert len(lab.api.hits()) == before
    assert len(lab.host_service.hits()) == 0
    assert egress(outcome) == []


@pytest.mark.parametrize(
    ("name", "server", "reason"),
    [
        ("meta.test", "meta", "address_link_local"),
        ("loop.test", "host_service", "address_loopback"),
        ("intranet.test", "intranet", "address_private"),
    ],
)
async def test_granted_name_resolving_to_a_special_address_is_refused(
    stub, skill_dir, lab, name, server, reason
):
    """A granted name that resolves to metadata, loopback or private space is refused."""
    target = getattr(lab, server)
    port = HOST_SERVICE_PORT if server == "host_service" else 80
    before = len(target.hits())
    (got,), outcome = await probe(
        stub, skill_dir, [f"{name}:{port}"], [["fetch", f"http://{name}:{port}/"]]
    )
    assert got["status"] == 403 and got["headers"]["X-Nexflow-Egress"] == reason, got
    assert len(target.hits()) == before
    (record,) = egress(outcome)
    assert (record.host, record.allowed, record.reason) == (name, False, reason)
    assert record.address in (METADATA, "127.0.0.1", INTRANET)


async def test_exact_address_grant_admits_a_private_address(stub, skill_dir, lab):
    """A grant naming the exact address is the one way to reach a private or loopback host."""
    results, _ = await probe(
        stub,
        skill_dir,
        [f"{INTRANET}:80", f"127.0.0.1:{HOST_SERVICE_PORT}"],
        [["fetch", f"http://{INTRANET}/"], ["fetch", f"http://127.0.0.1:{HOST_SERVICE_PORT}/"]],
    )
    assert body(results[0])["server"] == "intranet"
    assert body(results[1])["server"] == "world"


async def test_redirect_to_a_host_not_granted_does_not_get_through(stub, skill_dir, lab):
    """A granted host's redirect to another host is followed by the client and refused."""
    before = len(lab.other.hits())
    (got,), outcome = await probe(
        stub,
        skill_dir,
        ["api.test:80"],
        [["fetch", "http://api.test/redirect?to=http://other.test/stolen"]],
    )
    assert got["status"] == 403
    assert len(lab.other.hits()) == before
    assert [(r.host, r.allowed) for r in egress(outcome)] == [
        ("api.test", True),
        ("other.test", False),
    ]


async def test_wildcard_grant_matches_below_but_not_the_parent(stub, skill_dir, lab):
    """*.wild.test admits a.wild.test and a.b.wild.test, never wild.test itself."""
    results, _ = await probe(
        stub,
        skill_dir,
        ["*.wild.test:80"],
        [
            ["fetch", "http://a.wild.test/"],
            ["fetch", "http://a.b.wild.test/"],
            ["fetch", "http://wild.test/"],
        ],
    )
    assert [r["status"] for r in results] == [200, 200, 403]


async def test_empty_grant_blocks_everything(stub, skill_dir, lab):
    """Without grants there is no proxy and no variable pointing at one: nothing goes out."""
    before = len(lab.api.hits())
    results, outcome = await probe(
        stub, skill_dir, [], [["env", "HTTP_PROXY"], ["tcp", "127.0.0.1", 3128], ["tcp", API, 80]]
    )
    assert results[0] is None
    assert results[1].startswith("error:") and results[2].startswith("error:")
    assert len(lab.api.hits()) == before
    assert egress(outcome) == []


async def test_concurrent_calls_cannot_use_each_others_grants(stub, base_dir, lab):
    """Two overlapping calls with different grants each reach only their own host."""
    from executor.tests.executor_testkit import make_dir

    async def run(name: str, mine: str, theirs: str) -> list[Any]:
        folder = make_dir(base_dir, name)
        actions = [["sleep", 1.0], ["fetch", f"http://{mine}/"], ["fetch", f"http://{theirs}/"]]
        results, outcome = await probe(stub, folder, [f"{mine}:80"], actions)
        assert [r.host for r in egress(outcome)] == [mine, theirs]
        return results

    first, second = await asyncio.gather(
        run("a", "api.test", "other.test"), run("b", "other.test", "api.test")
    )
    assert (first[1]["status"], first[2]["status"]) == (200, 403)
    assert (second[1]["status"], second[2]["status"]) == (200, 403)
    assert body(first[1])["server"] == "api" and body(second[1])["server"] == "other"


async def test_proxy_variables_are_set_inside(stub, skill_dir, lab):
    """HTTP(S)_PROXY point at the in-sandbox proxy; NO_PROXY is set and empty."""
    results, _ = await probe(
        stub,
        skill_dir,
        ["api.test"],
        [["env", "HTTP_PROXY"], ["env", "HTTPS_PROXY"], ["env", "NO_PROXY"]],
    )
    assert results == ["http://127.0.0.1:3128", "http://127.0.0.1:3128", ""]


@pytest.mark.parametrize("backend", [pytest.param("docker", marks=pytest.mark.docker)])
async def test_warm_container_gets_its_own_proxy(settings, skill_dir, lab, backend):
    """A pre-started container is attached to the call's proxy when it is taken."""
    pool = settings.docker.pool.model_copy(update={"size": 1})
    warm = settings.model_copy(update={"docker": settings.docker.model_copy(update={"pool": pool})})
    async with serving(warm) as stub:
        flags = []
        for grants, expected in ((["api.test:80"], "api"), (["other.test:80"], "other")):
            for _ in range(50):  # the pool fills in the background after the first call
                results, outcome = await probe(
                    stub, skill_dir, grants, [["fetch", f"http://{expected}.test/"]]
                )
                started = outcome.events[0].started
                if started.warm or expected == "api":
                    break
                await asyncio.sleep(0.2)
            assert body(results[0])["server"] == expected
            flags.append(started.warm)
        assert flags[-1] is True, "the second call should have run in a warm container"
