"""TCP with mutual TLS: only a client certificate that chains to the configured CA and
names the accepted identity is served; every other one is refused and nothing runs. The
unix socket keeps working beside it."""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from nexflow.executor.v1 import executor_pb2 as pb
from nexflow.executor.v1 import executor_pb2_grpc as pb_grpc
from nexflow_executor.backends import select_backends
from nexflow_executor.server import Running, create_server
from nexflow_executor.settings import TcpSettings

from executor.tests.executor_testkit import (
    NSJAIL_ONLY,
    execute,
    make_dir,
    request,
    write_script,
)
from executor.tests.pki import Authority, Issued

pytestmark = NSJAIL_ONLY
CLIENT_NAME = "nexflow-control-plane"


@dataclass
class Pki:
    """The executor's CA and certificates, and clients good and bad."""

    ca: Authority
    clients: dict[str, Issued]


@pytest.fixture(scope="module")
def pki() -> Pki:
    ca, stranger = Authority("nexflow test CA"), Authority("some other CA")
    return Pki(
        ca=ca,
        clients={
            "good": ca.issue(CLIENT_NAME, dns=(CLIENT_NAME,)),
            "good by CN": ca.issue(CLIENT_NAME),
            "other CA": stranger.issue(CLIENT_NAME, dns=(CLIENT_NAME,)),
            "expired": ca.issue(CLIENT_NAME, dns=(CLIENT_NAME,), expired=True),
            "wrong identity": ca.issue("someone-else", dns=("someone-else",)),
            "server cert as client": ca.issue("executor", server=True, dns=("executor",)),
        },
    )


@pytest.fixture
async def tls_executor(pki: Pki, settings, short_dir: Path) -> AsyncIterator[Running]:
    """A real executor serving its unix socket and 127.0.0.1:<any port> with mutual TLS."""
    cert, key = pki.ca.issue("executor", server=True, dns=("executor.test",)).write(
        short_dir, "server"
    )
    ca_file = short_dir / "ca.crt"
    ca_file.write_bytes(pki.ca.pem)
    settings.tcp = TcpSettings(
        address="127.0.0.1:0",
        cert_file=cert,
        key_file=key,
        client_ca_file=ca_file,
        client_name=CLIENT_NAME,
    )
    backends = select_backends(settings)
    await backends.start()
    running = await create_server(settings, backends)
    try:
        yield running
    finally:
        await running.stop(None)
        await backends.close()


def tls_channel(running: Running, pki: Pki, client: str | None) -> grpc.aio.Channel:
    """A channel to the executor's TCP address presenting `client`'s certificate (None: none)."""
    issued = pki.clients[client] if client else None
    credentials = grpc.ssl_channel_credentials(
        root_certificates=pki.ca.pem,
        private_key=issued.key if issued else None,
        certificate_chain=issued.cert if issued else None,
    )
    assert running.tcp_address is not None
    return grpc.aio.secure_channel(
        running.tcp_address,
        credentials,
        options=[("grpc.ssl_target_name_override", "executor.test")],
    )


def marker_request(skill_dir: Path, marks: Path) -> pb.ExecuteRequest:
    script = write_script(skill_dir, "mark.py", "open('/marks/ran', 'a').write('x'); print('ran')")
    grant = [pb.Mount(host_path=str(marks), sandbox_path="/marks", writable=True)]
    return request(skill_dir, script, mounts=grant)


@pytest.mark.parametrize("client", ["good", "good by CN"])
async def test_the_control_plane_certificate_is_served(tls_executor, pki, skill_dir, client):
    """A client certificate from the CA naming the accepted identity (as a DNS SAN, or as
    the CN alone) runs a call over TCP; the unix socket serves beside it."""
    marks = make_dir(skill_dir.parent, "marks", sandbox_writable=True)
    async with tls_channel(tls_executor, pki, client) as channel:
        out = await execute(pb_grpc.ExecutorStub(channel), marker_request(skill_dir, marks))
    assert out.stdout == b"ran\n" and (marks / "ran").read_text() == "x"
    async with grpc.aio.insecure_channel(tls_executor.address) as channel:
        out = await execute(pb_grpc.ExecutorStub(channel), marker_request(skill_dir, marks))
    assert out.stdout == b"ran\n" and (marks / "ran").read_text() == "xx"


@pytest.mark.parametrize(
    ("client", "codes"),
    [
        ("other CA", {grpc.StatusCode.UNAVAILABLE}),
        ("expired", {grpc.StatusCode.UNAVAILABLE}),
        (None, {grpc.StatusCode.UNAVAILABLE}),
        ("wrong identity", {grpc.StatusCode.PERMISSION_DENIED}),
        ("server cert as client", {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.PERMISSION_DENIED}),
    ],
)
async def test_every_other_client_is_refused_and_nothing_runs(
    tls_executor, pki, skill_dir, client, codes
):
    """Another CA's, an expired, a wrongly named certificate, or none at all: Execute,
    Describe and the health check are all refused, and no sandbox ever ran."""
    marks = make_dir(skill_dir.parent, "marks", sandbox_writable=True)
    async with tls_channel(tls_executor, pki, client) as channel:
        stub = pb_grpc.ExecutorStub(channel)
        calls = [
            execute(stub, marker_request(skill_dir, marks)),
            stub.Describe(pb.DescribeRequest(), timeout=10),
            health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=10),
        ]
        for call in calls:
            with pytest.raises(grpc.aio.AioRpcError) as caught:
                await call
            assert caught.value.code() in codes, (client, caught.value.details())
    assert not (marks / "ran").exists()
    assert tls_executor.admission.busy == 0


async def test_plain_text_on_the_tls_port_is_refused(tls_executor, skill_dir):
    """A client that does not speak TLS at all gets nowhere on the TCP port."""
    marks = make_dir(skill_dir.parent, "marks", sandbox_writable=True)
    assert tls_executor.tcp_address is not None
    async with grpc.aio.insecure_channel(tls_executor.tcp_address) as channel:
        with pytest.raises(grpc.aio.AioRpcError) as caught:
            await execute(pb_grpc.ExecutorStub(channel), marker_request(skill_dir, marks))
    assert caught.value.code() == grpc.StatusCode.UNAVAILABLE
    assert not (marks / "ran").exists()
