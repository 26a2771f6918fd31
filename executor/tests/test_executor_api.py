"""The gRPC surface: refusals with the right status and field, socket mode, health, main()."""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from nexflow.executor.v1 import executor_pb2 as pb

from executor.tests.executor_testkit import execute, make_dir, request, write_script

BAD_FIELDS = [
    ("call_id", {"call_id": "bad id!"}),
    ("runtime", {"runtime": pb.RUNTIME_UNSPECIFIED}),
    ("entrypoint", {"entrypoint": "../escape.py"}),
    ("entrypoint", {"entrypoint": "/etc/passwd"}),
    ("skill_dir", {"skill_dir": "relative/dir"}),
    ("skill_dir", {"skill_dir": "/nonexistent/nexflow-skill"}),
    ("env['lower']", {"env": {"lower": "x"}}),
    ("env['NEXFLOW_CALL_ID']", {"env": {"NEXFLOW_CALL_ID": "spoof"}}),
    ("stdin", {"stdin": b"x" * (1024 * 1024 + 1)}),
    ("limits.wall_time_ms", {"limits": pb.Limits(wall_time_ms=600_001)}),
    ("limits.memory_bytes", {"limits": pb.Limits(memory_bytes=1024)}),
    (
        "mounts[0].sandbox_path",
        {"mounts": [pb.Mount(host_path="/usr/share", sandbox_path="/etc/x")]},
    ),
    (
        "mounts[0].sandbox_path",
        {"mounts": [pb.Mount(host_path="/usr/share", sandbox_path="/a/../b")]},
    ),
    ("mounts[0].host_path", {"mounts": [pb.Mount(host_path="/", sandbox_path="/host")]}),
    ("mounts[0].host_path", {"mounts": [pb.Mount(host_path="/proc/1/root", sandbox_path="/h")]}),
]


@pytest.mark.parametrize(
    ("field", "fields"), BAD_FIELDS, ids=[f"{f}-{i}" for i, (f, _) in enumerate(BAD_FIELDS)]
)
async def test_bad_request_is_invalid_argument_naming_the_field(stub, skill_dir, field, fields):
    """A bad field ends the stream with INVALID_ARGUMENT, before any event, naming the field."""
    entry = write_script(skill_dir, "run.py", "print('should not run')\n")
    fields = dict(fields)
    req = request(
        fields.pop("skill_dir", skill_dir),
        fields.pop("entrypoint", entry),
        fields.pop("runtime", pb.RUNTIME_PYTHON),
        **fields,
    )
    events = []
    with pytest.raises(grpc.aio.AioRpcError) as err:
        async for event in stub.Execute(req):
            events.append(event)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (err.value.details() or "").startswith(field + ":"), err.value.details()
    assert events == []


@pytest.mark.parametrize(
    ("hosts", "field"),
    [
        (["example.com:99999"], "network_hosts[0]"),
        (["ok.example:443", "*.com"], "network_hosts[1]"),
        (["2130706433:80"], "network_hosts[0]"),
        (["a b:80"], "network_hosts[0]"),
        ([f"h{i}.example:443" for i in range(65)], "network_hosts"),
    ],
)
async def test_malformed_network_hosts_are_invalid(stub, skill_dir, hosts, field):
    """A malformed or excessive network grant is INVALID_ARGUMENT naming the entry."""
    entry = write_script(skill_dir, "run.py", "print(1)\n")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await execute(stub, request(skill_dir, entry, network_hosts=hosts))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert (err.value.details() or "").startswith(field + ":")


async def test_unwritable_rw_grant_is_a_failed_precondition(stub, skill_dir, base_dir):
    """A rw grant the sandbox uid cannot write is refused up front, naming the dir and the fix."""
    root_only = make_dir(base_dir, "root-only")
    entry = write_script(skill_dir, "run.py", "print(1)\n")
    req = request(skill_dir, entry)
    req.mounts.add(host_path=str(root_only), sandbox_path="/out", writable=True)
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await execute(stub, req)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert str(root_only) in (err.value.details() or "") and "chown" in (err.value.details() or "")


async def test_socket_is_owner_only(stub, settings):
    """The executor's unix socket has mode 0600 and its directory 0700."""
    assert stat.S_IMODE(settings.socket.stat().st_mode) == 0o600
    assert stat.S_IMODE(settings.socket.parent.stat().st_mode) == 0o700


async def test_health_is_serving(stub, settings):
    """grpc.health.v1 reports SERVING for the server and for the Executor service."""
    async with grpc.aio.insecure_channel(f"unix:{settings.socket}") as channel:
        health = health_pb2_grpc.HealthStub(channel)
        for service in ("", "nexflow.executor.v1.Executor"):
            reply = await health.Check(health_pb2.HealthCheckRequest(service=service))
            assert reply.status == health_pb2.HealthCheckResponse.SERVING


def _main(
    short_dir, *args: str, extra_env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("NEXFLOW_")}
    env.update({"NEXFLOW_EXECUTOR_STATE_DIR": str(short_dir / "state"), **(extra_env or {})})
    code = "import sys; from nexflow_executor.main import main; sys.exit(main())"
    return subprocess.Popen(
        [sys.executable, "-c", code, "--socket", str(short_dir / "m.sock"), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )


@pytest.mark.nsjail
def test_main_logs_ready_and_stops_cleanly_on_sigterm(short_dir):
    """nexflow-executor logs executor.ready with its socket, then exits 0 on SIGTERM."""
    proc = _main(short_dir, "--forbid", "/srv/nexflow-home")
    deadline = time.monotonic() + 20
    while not (short_dir / "m.sock").exists() and time.monotonic() < deadline:
        time.sleep(0.05)
    proc.send_signal(signal.SIGTERM)
    out, err = proc.communicate(timeout=20)
    events = [json.loads(line) for line in out.splitlines()]
    assert proc.returncode == 0, (out, err)
    assert err == b""
    ready = [e for e in events if e["event"] == "executor.ready"]
    assert ready and ready[0]["socket"] == str(short_dir / "m.sock")


@pytest.mark.nsjail
def test_a_second_executor_on_the_same_state_dir_is_refused(short_dir):
    """A second executor on a live executor's state dir exits 2 (it would reap its calls)."""
    first = _main(short_dir, "--backend", "nsjail")
    try:
        deadline = time.monotonic() + 20
        while not (short_dir / "m.sock").exists() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert (short_dir / "m.sock").exists()
        second = _main(short_dir, "--backend", "nsjail", "--socket", str(short_dir / "n.sock"))
        out, err = second.communicate(timeout=20)
        assert second.returncode == 2
        assert b"Traceback" not in out + err
        refused = json.loads(out.splitlines()[-1])
        assert refused["event"] == "executor.refused"
        assert "in use by another running executor" in refused["reason"]
        assert first.poll() is None  # the first one is untouched
    finally:
        first.send_signal(signal.SIGTERM)
        first.communicate(timeout=20)


def test_main_refuses_to_start_without_a_working_nsjail(short_dir):
    """With backend nsjail and an nsjail binary that cannot run, main exits 2, no traceback."""
    proc = _main(
        short_dir,
        extra_env={
            "NEXFLOW_EXECUTOR_NSJAIL__BINARY": "/nonexistent/nsjail",
            "NEXFLOW_EXECUTOR_BACKEND": "nsjail",
        },
    )
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 2
    assert b"Traceback" not in out + err
    refused = [json.loads(line) for line in out.splitlines()]
    assert refused[-1]["event"] == "executor.refused"
    assert "/nonexistent/nsjail" in refused[-1]["reason"]


def test_main_refuses_docker_backend_when_the_engine_does_not_answer(short_dir):
    """With backend docker and no engine at the configured socket, main exits 2, no traceback."""
    proc = _main(
        short_dir,
        extra_env={
            "NEXFLOW_EXECUTOR_DOCKER__URL": f"unix://{short_dir}/no-docker.sock",
            "NEXFLOW_EXECUTOR_BACKEND": "docker",
        },
    )
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 2
    assert b"Traceback" not in out + err
    refused = [json.loads(line) for line in out.splitlines()]
    assert refused[-1]["event"] == "executor.refused"
    assert "docker" in refused[-1]["reason"].lower()
    assert "no-docker.sock" in refused[-1]["reason"]
