"""What skills by digest and TCP + mutual TLS add to one call, against the unix socket.

Run: `PYTHONPATH=. .venv/bin/python executor/bench/bench_transport.py [N]` (as root).
One real executor (nsjail) serves its unix socket and 127.0.0.1 with mutual TLS
(certificates made here). N calls of a tiny script each way, interleaved: unix +
skill_dir (the baseline), unix + cached bundle, TCP mTLS + cached bundle (one channel,
as the control plane keeps one). Reports each median and its difference from the
baseline, and one PutBundle's time. Blocking file set-up is deliberate: the loop runs
nothing else meanwhile.
"""

# ruff: noqa: ASYNC240

from __future__ import annotations

import asyncio
import hashlib
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import grpc
from nexflow.executor.v1 import executor_pb2 as pb
from nexflow.executor.v1 import executor_pb2_grpc as pb_grpc
from nexflow_executor.backends import select_backends
from nexflow_executor.server import create_server
from nexflow_executor.settings import Settings, TcpSettings

from executor.tests.executor_testkit import execute, put_bundle, tar_bundle
from executor.tests.pki import Authority

SCRIPT = b"import sys\nsys.stdout.write(sys.stdin.read())\n"


async def main(rounds: int) -> None:
    base = Path(tempfile.mkdtemp(prefix="nx-bench-", dir="/tmp"))
    try:
        base.chmod(0o755)
        skill = base / "skill"
        skill.mkdir(mode=0o755)
        (skill / "echo.py").write_bytes(SCRIPT)
        (skill / "echo.py").chmod(0o644)
        ca = Authority("bench CA")
        cert, key = ca.issue("executor", server=True, dns=("executor",)).write(base, "srv")
        (base / "ca.crt").write_bytes(ca.pem)
        client = ca.issue("control-plane", dns=("control-plane",))
        tcp = TcpSettings(
            address="127.0.0.1:0",
            cert_file=cert,
            key_file=key,
            client_ca_file=base / "ca.crt",
            client_name="control-plane",
        )
        settings = Settings(
            socket=base / "s.sock", state_dir=base / "state", backend="nsjail", tcp=tcp
        )
        backends = select_backends(settings)
        await backends.start()
        running = await create_server(settings, backends)
        creds = grpc.ssl_channel_credentials(ca.pem, client.key, client.cert)
        assert running.tcp_address is not None
        tls = grpc.aio.secure_channel(
            running.tcp_address, creds, options=[("grpc.ssl_target_name_override", "executor")]
        )
        unix = grpc.aio.insecure_channel(running.address)
        data = tar_bundle({"echo.py": SCRIPT})
        digest = hashlib.sha256(data).hexdigest()
        begin = time.perf_counter()
        await put_bundle(pb_grpc.ExecutorStub(tls), data)
        put_ms = (time.perf_counter() - begin) * 1000

        def req(i: int, bundle: bool) -> pb.ExecuteRequest:
            r = pb.ExecuteRequest(
                call_id=f"b{i}-{int(bundle)}", runtime=pb.RUNTIME_PYTHON, entrypoint="echo.py"
            )
            r.stdin = b"hi"
            if bundle:
                r.bundle_sha256 = digest
            else:
                r.skill_dir = str(skill)
            return r

        ways = {
            "unix + skill_dir": (pb_grpc.ExecutorStub(unix), False),
            "unix + bundle": (pb_grpc.ExecutorStub(unix), True),
            "mTLS + bundle": (pb_grpc.ExecutorStub(tls), True),
        }
        times: dict[str, list[float]] = {name: [] for name in ways}
        for i in range(rounds + 2):
            for name, (stub, bundle) in ways.items():
                begin = time.perf_counter()
                out = await execute(stub, req(i * 10 + len(times[name]), bundle))
                assert out.stdout == b"hi", out.stderr
                if i >= 2:  # two warm-up rounds
                    times[name].append((time.perf_counter() - begin) * 1000)
        baseline = statistics.median(times["unix + skill_dir"])
        print(f"PutBundle of {len(data)} bytes over mTLS: {put_ms:.1f} ms")
        for name, values in times.items():
            p50 = statistics.median(values)
            print(f"{name:18} p50 {p50:7.2f} ms  ({p50 - baseline:+.2f} ms vs unix + skill_dir)")
        await tls.close()
        await unix.close()
        await running.stop(None)
        await backends.close()
    finally:
        shutil.rmtree(base, ignore_errors=True)


if __name__ == "__main__":
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 30))
