"""Execute round trips through the real server, socket and nsjail sandbox."""

from __future__ import annotations

import json

import pytest
from nexflow.executor.v1 import executor_pb2 as pb

from executor.tests.executor_testkit import execute, request, write_script

ECHO = {
    pb.RUNTIME_PYTHON: ("run.py", "import sys\nsys.stdout.write(sys.stdin.read())\n"),
    pb.RUNTIME_BASH: ("run.sh", "cat\n"),
    pb.RUNTIME_NODE: ("run.js", "process.stdin.pipe(process.stdout);\n"),
}


@pytest.mark.parametrize("runtime", list(ECHO), ids=["python", "bash", "node"])
async def test_echo_round_trip(stub, skill_dir, runtime, backend):
    """stdin reaches the script and its stdout comes back, as Started, Output*, Finished."""
    entry = write_script(skill_dir, *ECHO[runtime])
    out = await execute(stub, request(skill_dir, entry, runtime, stdin=b'{"x": 1}'))
    assert out.events[0].HasField("started")
    want = {"nsjail": pb.BACKEND_NSJAIL, "docker": pb.BACKEND_DOCKER}[backend]
    assert out.events[0].started.backend == want
    assert out.events[0].started.image_id.startswith("sha256:") == (backend == "docker")
    assert all(e.HasField("output") for e in out.events[1:-1])
    assert out.stdout == b'{"x": 1}'
    assert out.finished.exit_code == 0
    assert out.finished.kill_reason == pb.KILL_REASON_NONE
    assert out.finished.stdout_bytes == 8 and not out.finished.truncated


async def test_exit_code_and_stderr_are_reported(stub, skill_dir):
    """A script's exit code and stderr come back unchanged, without nsjail's own log lines."""
    entry = write_script(skill_dir, "fail.sh", "echo oops >&2\nexit 3\n")
    out = await execute(stub, request(skill_dir, entry, pb.RUNTIME_BASH))
    assert out.stderr == b"oops\n"
    assert out.finished.exit_code == 3
    assert out.finished.kill_reason == pb.KILL_REASON_NONE


async def test_environment_is_exactly_the_documented_one(stub, skill_dir, base_dir):
    """The sandbox env is PATH, HOME, LANG, NEXFLOW_CALL_ID, NEXFLOW_WORKSPACE plus granted vars."""
    entry = write_script(skill_dir, "env.js", "console.log(JSON.stringify(process.env));\n")
    ws = base_dir / "ws"
    ws.mkdir(mode=0o755)
    req = request(skill_dir, entry, pb.RUNTIME_NODE, env={"API_TOKEN": "s3cret"})
    req.mounts.add(host_path=str(ws), sandbox_path="/workspace")
    out = await execute(stub, req)
    env = json.loads(out.stdout)
    assert set(env) == {"PATH", "HOME", "LANG", "NEXFLOW_CALL_ID", "NEXFLOW_WORKSPACE", "API_TOKEN"}
    assert env["HOME"] == "/tmp" and env["LANG"] == "C.UTF-8"
    assert env["NEXFLOW_CALL_ID"] == req.call_id
    assert env["NEXFLOW_WORKSPACE"] == "/workspace" and env["API_TOKEN"] == "s3cret"


async def test_args_are_passed_after_the_entrypoint(stub, skill_dir):
    """Request args reach the script verbatim, spaces included."""
    entry = write_script(
        skill_dir, "args.py", "import sys, json\nprint(json.dumps(sys.argv[1:]))\n"
    )
    out = await execute(stub, request(skill_dir, entry, args=["a b", "--c"]))
    assert json.loads(out.stdout) == ["a b", "--c"]


async def test_runs_as_unprivileged_user_without_capabilities(stub, skill_dir, backend):
    """Inside, uid and gid are not 0 and the effective and bounding capability sets are empty.

    nsjail maps inside uid 1000 to outside 65534; Docker runs as 65534 itself (no user
    namespace), so a granted directory is owned by 65534 on the host either way."""
    body = (
        "import ctypes, os, json\n"
        "hdr = (ctypes.c_uint32 * 2)(0x20080522, 0)\n"
        "data = (ctypes.c_uint32 * 6)()\n"
        "assert ctypes.CDLL(None).capget(hdr, data) == 0\n"
        "print(json.dumps([os.getuid(), os.geteuid(), os.getgid(), data[0], data[3]]))\n"
    )
    entry = write_script(skill_dir, "who.py", body)
    out = await execute(stub, request(skill_dir, entry))
    uid = {"nsjail": 1000, "docker": 65534}[backend]
    assert json.loads(out.stdout) == [uid, uid, uid, 0, 0], out.stderr
