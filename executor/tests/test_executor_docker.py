"""Docker-only attacks and guarantees: each test fails if the attack works or the guarantee breaks.

The shared attack suite (isolation, limits, run) already runs on both backends; these are
the cases only a container engine raises: its control socket, privileged modes, the host
PID namespace, /proc/sys and /sys, setuid files, tmpfs size, image pinning, the warm pool's
single use, and orphans left by a crashed executor.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import docker
import grpc
import pytest
from nexflow.executor.v1 import executor_pb2 as pb
from nexflow.executor.v1 import executor_pb2_grpc as pb_grpc
from nexflow_executor.sandbox.container import LABEL_EXECUTOR, instance_id
from nexflow_executor.sandbox.seccomp import docker_profile
from nexflow_executor.settings import PoolSettings, Settings

from executor.tests.executor_testkit import execute, make_dir, request, serving, write_script

pytestmark = [pytest.mark.docker, pytest.mark.parametrize("backend", ["docker"])]
MiB = 1024 * 1024


def _engine() -> docker.APIClient:
    return docker.APIClient(version="auto")


def _ours(settings: Settings) -> list[dict]:
    return _engine().containers(
        all=True, filters={"label": [f"{LABEL_EXECUTOR}={instance_id(settings)}"]}
    )


async def test_engine_socket_is_neither_inside_nor_mountable(stub, skill_dir):
    """No Docker or containerd socket inside; granting one, or a parent of one, is refused."""
    body = (
        "import os, json\n"
        "paths = ['/var/run/docker.sock', '/run/docker.sock', '/run/containerd']\n"
        "print(json.dumps([os.path.exists(p) for p in paths]))\n"
    )
    entry = write_script(skill_dir, "sock.py", body)
    out = await execute(stub, request(skill_dir, entry))
    assert json.loads(out.stdout) == [False, False, False], out.stderr
    for host in ("/var/run/docker.sock", "/run", "/var/lib/docker"):
        req = request(skill_dir, entry)
        req.mounts.add(host_path=host, sandbox_path="/x")
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await execute(stub, req)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, host


async def test_container_is_created_confined(stub, skill_dir, settings):
    """The live container: not privileged, all caps dropped, no-new-privileges, our own
    seccomp profile, read-only root, no network, non-root user, swap equal to memory, no
    log file."""
    body = (  # /proc is out of the skill's reach: ask the kernel with prctl and capget
        "import ctypes, sys, time\n"
        "libc = ctypes.CDLL(None)\n"
        "head = (ctypes.c_uint32 * 2)(0x20080522, 0)\n"
        "data = (ctypes.c_uint32 * 6)()\n"
        "assert libc.capget(head, data) == 0\n"
        "bnd = sum(1 << c for c in range(64) if libc.prctl(23, c, 0, 0, 0) == 1)\n"
        "print(libc.prctl(21, 0, 0, 0, 0), libc.prctl(39, 0, 0, 0, 0),\n"
        "      hex(data[0] | data[3] << 32), hex(bnd))\n"
        "sys.stdout.flush(); time.sleep(3)\n"
    )
    entry = write_script(skill_dir, "confined.py", body)
    limits = pb.Limits(memory_bytes=64 * MiB, pids=20)
    task = asyncio.create_task(execute(stub, request(skill_dir, entry, limits=limits)))
    found: list[dict] = []
    for _ in range(100):
        found = await asyncio.to_thread(_ours, settings)
        if found:
            break
        await asyncio.sleep(0.05)
    assert len(found) == 1
    info = await asyncio.to_thread(_engine().inspect_container, found[0]["Id"])
    out = await task
    host = info["HostConfig"]
    assert host["Privileged"] is False
    assert host["CapDrop"] == ["ALL"] and not host["CapAdd"]
    assert "no-new-privileges:true" in host["SecurityOpt"]
    assert not any("unconfined" in opt for opt in host["SecurityOpt"])
    profile = [opt for opt in host["SecurityOpt"] if opt.startswith("seccomp=")]
    assert profile == [f"seccomp={docker_profile()}"]  # ours, not the engine's default
    assert host["ReadonlyRootfs"] is True
    assert host["NetworkMode"] == "none"
    assert host["PidMode"] == "" and host["UsernsMode"] == ""
    assert host["Memory"] == host["MemorySwap"] == 64 * MiB
    assert host["PidsLimit"] == 20 + 2  # docker-init and the launcher
    assert host["LogConfig"]["Type"] == "none"
    assert not host["Devices"]
    assert info["Config"]["User"] == "65534:65534"
    sources = [m["Source"] for m in info["Mounts"]]
    assert not any("docker.sock" in s or s.startswith("/var/lib/docker") for s in sources)
    seccomp, no_new_privs, cap_eff, cap_bnd = out.stdout.decode().split()
    assert seccomp == "2" and no_new_privs == "1"  # 2 = filter mode
    assert int(cap_eff, 16) == 0 and int(cap_bnd, 16) == 0


async def test_privileged_operations_fail(stub, skill_dir):
    """mount, unshare(user ns), chroot, mknod and setuid(0) all fail inside."""
    body = (
        "import ctypes, os, json\n"
        "libc = ctypes.CDLL(None, use_errno=True)\n"
        "r = {}\n"
        "r['mount'] = libc.mount(b'x', b'/tmp', b'tmpfs', 0, None)\n"
        "r['unshare'] = libc.unshare(0x10000000)\n"
        "r['chroot'] = libc.chroot(b'/tmp')\n"
        "r['mknod'] = libc.mknod(b'/tmp/sda', 0o60600, os.makedev(8, 0))\n"
        "r['setuid'] = libc.setuid(0)\n"
        "print(json.dumps(r))\n"
    )
    entry = write_script(skill_dir, "priv.py", body)
    out = await execute(stub, request(skill_dir, entry))
    assert json.loads(out.stdout) == {
        k: -1 for k in ("mount", "unshare", "chroot", "mknod", "setuid")
    }


async def test_host_pid_namespace_is_invisible(stub, skill_dir):
    """The skill is in a fresh pid namespace, cannot list /proc, and cannot signal this
    test process (pytest) by its host pid."""
    body = (
        "import os, json, sys\n"
        "try:\n"
        "    pids = [p for p in os.listdir('/proc') if p.isdigit()]\n"
        "except OSError as e:\n"
        "    pids = type(e).__name__\n"
        "try:\n"
        "    os.kill(int(sys.argv[1]), 0); signalled = True\n"
        "except OSError:\n"
        "    signalled = False\n"
        "print(json.dumps({'pids': pids, 'me': os.getpid(), 'signalled': signalled}))\n"
    )
    entry = write_script(skill_dir, "ps.py", body)
    out = await execute(stub, request(skill_dir, entry, args=[str(os.getpid())]))
    seen = json.loads(out.stdout)
    assert seen["pids"] == "PermissionError", seen  # the launcher's Landlock domain
    assert seen["me"] <= 10 and seen["signalled"] is False, seen


async def test_proc_sys_and_sys_are_read_only(stub, skill_dir):
    """Writes to /proc/sys and /sys fail, and both are mounted read-only."""
    body = (
        "import json, os\n"
        "res = {}\n"
        "for path in ('/proc/sys/kernel/hostname', '/proc/sys/vm/drop_caches',\n"
        "             '/sys/kernel/mm/transparent_hugepage/enabled'):\n"
        "    try:\n"
        "        open(path, 'w').write('1'); res[path] = 'WROTE'\n"
        "    except OSError as e:\n"
        "        res[path] = e.errno\n"
        "ro = {p: bool(os.statvfs(p).f_flag & os.ST_RDONLY) for p in ('/sys', '/proc/sys')}\n"
        "print(json.dumps([res, ro]))\n"
    )
    entry = write_script(skill_dir, "sys.py", body)
    res, ro = json.loads((await execute(stub, request(skill_dir, entry))).stdout)
    assert "WROTE" not in res.values(), res
    assert ro == {"/sys": True, "/proc/sys": True}


async def test_setuid_binary_copied_in_gains_nothing(stub, skill_dir, base_dir):
    """A setuid-root binary in a granted directory runs with the caller's uid, not root's."""
    data = make_dir(base_dir, "suid")
    shutil.copy("/usr/bin/id", data / "id")
    os.chown(data / "id", 0, 0)
    os.chmod(data / "id", 0o4755)
    body = (
        "import subprocess\n"
        "print(subprocess.run(['/data/id', '-u'], capture_output=True, text=True).stdout.strip())\n"
    )
    entry = write_script(skill_dir, "suid.py", body)
    req = request(skill_dir, entry)
    req.mounts.add(host_path=str(data), sandbox_path="/data")
    out = await execute(stub, req)
    assert out.stdout.decode().strip() == "65534", out.stderr


async def test_tmpfs_fill_stops_at_its_size_and_nothing_else_is_writable(stub, skill_dir):
    """Filling /tmp stops with ENOSPC at tmpfs_bytes; /, /etc, /skill and /var/tmp are read-only."""
    body = (
        "import json, errno\n"
        "total, err = 0, None\n"
        "chunk = b'x' * (1024 * 1024)\n"
        "try:\n"
        "    with open('/tmp/fill', 'wb') as f:\n"
        "        while total < 64 * 1024 * 1024:\n"
        "            f.write(chunk); f.flush(); total += len(chunk)\n"
        "except OSError as e:\n"
        "    err = e.errno\n"
        "others = {}\n"
        "for p in ('/x', '/etc/x', '/skill/x', '/var/tmp/x'):\n"
        "    try: open(p, 'w'); others[p] = 'WROTE'\n"
        "    except OSError as e: others[p] = e.errno\n"
        "print(json.dumps([total, err, others]))\n"
    )
    entry = write_script(skill_dir, "fill.py", body)
    limits = pb.Limits(tmpfs_bytes=8 * MiB)
    total, err, others = json.loads(
        (await execute(stub, request(skill_dir, entry, limits=limits))).stdout
    )
    assert err == 28  # ENOSPC
    assert total <= 8 * MiB
    assert "WROTE" not in others.values(), others


async def test_image_is_resolved_to_its_id_and_never_pulled(stub, skill_dir):
    """A named image runs by its ID (reported in Started); a missing one is refused, as is
    an image on the nsjail backend or an image without the required label."""
    entry = write_script(skill_dir, "run.sh", "echo ok\n")
    image_id = _engine().inspect_image("nexflow/bash:bookworm")["Id"]
    out = await execute(
        stub, request(skill_dir, entry, pb.RUNTIME_BASH, image="nexflow/bash:bookworm")
    )
    assert out.stdout == b"ok\n"
    assert out.events[0].started.image_id == image_id
    cases = [
        ({"image": "nexflow/absent:nope"}, grpc.StatusCode.FAILED_PRECONDITION, "not present"),
        (
            {"image": "nexflow/bash:bookworm", "backend": pb.BACKEND_NSJAIL},
            grpc.StatusCode.INVALID_ARGUMENT,
            "image",
        ),
        (
            {"image": "nexflow/bash:bookworm", "image_labels": {"io.nexflow.skill-digest": "x"}},
            grpc.StatusCode.FAILED_PRECONDITION,
            "does not carry label",
        ),
    ]
    for fields, code, text in cases:
        with pytest.raises(grpc.aio.AioRpcError) as err:
            await execute(stub, request(skill_dir, entry, pb.RUNTIME_BASH, **fields))
        assert err.value.code() == code, fields
        assert text in (err.value.details() or ""), err.value.details()


# --- the warm pool --------------------------------------------------------------------------


@pytest.fixture
def pool_settings(settings: Settings) -> Settings:
    pool = PoolSettings(size=1, idle_s=2.0)
    return settings.model_copy(update={"docker": settings.docker.model_copy(update={"pool": pool})})


async def _pool_ready(stub: pb_grpc.ExecutorStub, want: int, timeout_s: float = 20) -> int:
    deadline = time.monotonic() + timeout_s
    ready = -1
    while time.monotonic() < deadline:
        ready = (await stub.Describe(pb.DescribeRequest())).pool_ready
        if ready == want:
            return ready
        await asyncio.sleep(0.05)
    return ready


@pytest.fixture
async def pool_stub(pool_settings: Settings):
    async with serving(pool_settings) as stub:
        yield stub


async def test_warm_container_serves_one_call_and_keeps_nothing_of_the_last(
    pool_stub, skill_dir, pool_settings
):
    """The second call of a profile runs warm, in a fresh container: the first call's file in
    /tmp and its secret environment are not there, and the first container is gone."""
    body = (
        "import os, json, sys\n"
        "seen = os.path.exists('/tmp/left-behind')\n"
        "open('/tmp/left-behind', 'w').write(os.environ.get('TOKEN', ''))\n"
        "try:\n"
        "    init_env = open('/proc/1/environ', 'rb').read().decode(errors='replace')\n"
        "except OSError as e:\n"
        "    init_env = type(e).__name__\n"
        "token = os.environ.get('TOKEN')\n"
        "print(json.dumps({'seen': seen, 'init_env': init_env, 'token': token}))\n"
    )
    entry = write_script(skill_dir, "single.py", body)
    first = await execute(pool_stub, request(skill_dir, entry, env={"TOKEN": "first-secret"}))
    assert first.events[0].started.warm is False
    assert await _pool_ready(pool_stub, 1) == 1
    before = {c["Id"] for c in _ours(pool_settings)}
    second = await execute(pool_stub, request(skill_dir, entry, env={"TOKEN": "second-secret"}))
    assert second.events[0].started.warm is True
    seen = json.loads(second.stdout)
    assert seen["seen"] is False
    assert seen["token"] == "second-secret"
    assert "secret" not in seen["init_env"]  # the call's env lives only in its own process
    for _ in range(100):
        if not before & {c["Id"] for c in _ours(pool_settings) if c["State"] == "running"}:
            break
        await asyncio.sleep(0.05)
    running = {c["Id"] for c in _ours(pool_settings) if c["State"] == "running"}
    assert not before & running  # the container that served the second call is gone


async def test_idle_profiles_are_dropped_with_their_containers(pool_stub, skill_dir, pool_settings):
    """After idle_s without calls, the profile's ready containers are removed."""
    entry = write_script(skill_dir, "run.sh", "true\n")
    await execute(pool_stub, request(skill_dir, entry, pb.RUNTIME_BASH))
    assert await _pool_ready(pool_stub, 1) == 1
    assert await _pool_ready(pool_stub, 0, timeout_s=10) == 0
    for _ in range(100):
        if not _ours(pool_settings):
            break
        await asyncio.sleep(0.1)
    assert _ours(pool_settings) == []


def test_orphans_of_a_killed_executor_are_reaped_at_restart(short_dir, skill_dir, backend):
    """kill -9 the executor with warm containers up; its restart removes every one of them."""
    env = {
        **os.environ,
        "NEXFLOW_EXECUTOR_SOCKET": str(short_dir / "x.sock"),
        "NEXFLOW_EXECUTOR_STATE_DIR": str(short_dir / "xstate"),
        "NEXFLOW_EXECUTOR_BACKEND": backend,
        "NEXFLOW_EXECUTOR_DOCKER__POOL__SIZE": "2",
    }
    settings = Settings(socket=short_dir / "x.sock", state_dir=short_dir / "xstate")
    entry = write_script(skill_dir, "run.sh", "true\n")
    argv = [
        sys.executable,
        "-c",
        "import sys; from nexflow_executor.main import main; sys.exit(main())",
    ]

    async def warm_up() -> None:
        channel = grpc.aio.insecure_channel(f"unix:{short_dir / 'x.sock'}")
        stub = pb_grpc.ExecutorStub(channel)
        await execute(stub, request(skill_dir, entry, pb.RUNTIME_BASH))
        assert await _pool_ready(stub, 2) == 2
        await channel.close()

    first = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        _wait_socket(short_dir / "x.sock")
        asyncio.run(warm_up())
    finally:
        first.send_signal(signal.SIGKILL)
        first.wait(10)
    orphans = {c["Id"] for c in _ours(settings)}
    assert len(orphans) >= 2
    (short_dir / "x.sock").unlink(missing_ok=True)
    second = subprocess.Popen(
        argv,
        env={**env, "NEXFLOW_EXECUTOR_DOCKER__POOL__SIZE": "0"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        _wait_socket(short_dir / "x.sock")
        left = {c["Id"] for c in _ours(settings)}
    finally:
        second.send_signal(signal.SIGTERM)
        second.wait(20)
    assert not orphans & left


def _wait_socket(path: Path, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if path.exists():
            return
        time.sleep(0.05)
    raise AssertionError(f"executor socket {path} never appeared")


async def test_the_pool_grows_with_concurrent_demand_within_its_cap(skill_dir, settings):
    """After calls ran four at once, the pool keeps more than `size` ready (never more than
    `max_size`), and the next three concurrent calls all find a warm container."""
    pool = PoolSettings(size=1, max_size=3, idle_s=60.0)
    grown = settings.model_copy(
        update={"docker": settings.docker.model_copy(update={"pool": pool})}
    )
    entry = write_script(skill_dir, "wait.py", "import time\ntime.sleep(0.5)\n")
    async with serving(grown) as stub:
        await asyncio.gather(*(execute(stub, request(skill_dir, entry)) for _ in range(4)))
        highest = 0
        for _ in range(400):
            highest = max(highest, (await stub.Describe(pb.DescribeRequest())).pool_ready)
            if highest >= 3:
                break
            await asyncio.sleep(0.05)
        assert highest == 3
        for _ in range(10):  # stays at the cap
            assert (await stub.Describe(pb.DescribeRequest())).pool_ready <= 3
            await asyncio.sleep(0.05)
        outs = await asyncio.gather(*(execute(stub, request(skill_dir, entry)) for _ in range(3)))
        assert [o.events[0].started.warm for o in outs] == [True, True, True]


async def test_a_process_left_behind_is_dead_when_the_answer_arrives(
    skill_dir, base_dir, pool_settings
):
    """A warm call whose script leaves a child writing a heartbeat: once the answer is in,
    the heartbeat has stopped within 300 ms, while another call keeps the executor busy
    (so the container's removal, which waits for a quiet moment, has not started yet)."""
    beats = make_dir(base_dir, "beats", sandbox_writable=True)
    body = (
        "import os, time\n"
        "if os.fork() == 0:\n"
        "    os.setsid()\n"
        "    while True:\n"
        "        with open('/beats/beat', 'a') as f:\n"
        "            f.write('.')\n"
        "        time.sleep(0.005)\n"
        "while not os.path.exists('/beats/beat'):\n"
        "    time.sleep(0.005)\n"
    )
    entry = write_script(skill_dir, "leave.py", body)
    slow = write_script(skill_dir, "slow.py", "import time\ntime.sleep(3)\n")

    def leaving() -> pb.ExecuteRequest:
        req = request(skill_dir, entry)
        req.mounts.add(host_path=str(beats), sandbox_path="/beats", writable=True)
        return req

    async with serving(pool_settings) as stub:
        await execute(stub, leaving())  # the profile is known; the pool fills
        assert await _pool_ready(stub, 1) == 1
        (beats / "beat").unlink()
        busy = asyncio.create_task(execute(stub, request(skill_dir, slow)))
        out = await execute(stub, leaving())
        assert out.events[0].started.warm is True
        assert out.finished.exit_code == 0, out.stderr
        size = (beats / "beat").stat().st_size
        await asyncio.sleep(0.3)
        assert (beats / "beat").stat().st_size == size, "the leftover still runs"
        await busy


async def test_every_used_container_is_removed_off_the_call_path(skill_dir, settings):
    """Calls in rounds of four: afterwards the executor's containers (and the accounting
    cgroups under its cgroup parent) are exactly the pool's ready ones; every container
    that served a call is gone."""
    pool = PoolSettings(size=2, max_size=4, idle_s=60.0)
    grown = settings.model_copy(
        update={"docker": settings.docker.model_copy(update={"pool": pool})}
    )
    entry = write_script(skill_dir, "ok.py", "print('ok')\n")
    parent = settings.nsjail.cgroup_root / "memory" / settings.docker.cgroup_parent
    parent = parent / instance_id(settings)
    async with serving(grown) as stub:
        for _ in range(3):
            outs = await asyncio.gather(
                *(execute(stub, request(skill_dir, entry)) for _ in range(4))
            )
            assert [o.stdout for o in outs] == [b"ok\n"] * 4
        settled = False
        for _ in range(300):
            ready = (await stub.Describe(pb.DescribeRequest())).pool_ready
            ours = _ours(grown)
            cgroups = [d for d in parent.iterdir() if d.is_dir()] if parent.is_dir() else []
            if (
                ready >= 2
                and len(ours) == ready
                and all(c["State"] == "running" for c in ours)
                and len(cgroups) == ready
            ):
                settled = True
                break
            await asyncio.sleep(0.05)
        assert settled, (ready, [c["State"] for c in ours], len(cgroups))
    assert _ours(grown) == []


async def test_the_pool_never_hands_out_a_container_twice(skill_dir, settings):
    """Many takers at once against the refill: every container handed out is distinct,
    and every one is removed once discarded."""
    from nexflow_executor.sandbox.base import Runtime
    from nexflow_executor.sandbox.container import Profile
    from nexflow_executor.sandbox.docker_box import DockerSandbox

    pool = PoolSettings(size=3, max_size=6, max_starting=3, idle_s=60.0)
    grown = settings.model_copy(
        update={"docker": settings.docker.model_copy(update={"pool": pool})}
    )
    sandbox = DockerSandbox(grown)
    sandbox.check()
    await sandbox.start()
    limits = grown.limits.defaults
    profile = Profile(
        image_id=docker.APIClient(version="auto").inspect_image(grown.docker.images["python"])[
            "Id"
        ],
        runtime=Runtime.PYTHON,
        skill_dir=skill_dir,
        mounts=(),
        memory_bytes=limits.memory_bytes,
        pids=limits.pids,
        cpu_millis=limits.cpu_millis,
        tmpfs_bytes=limits.tmpfs_bytes,
        cpu_time_ms=limits.wall_time_ms,
    )
    handed: list[str] = []

    async def taker() -> None:
        for _ in range(4):
            container = await sandbox.pool.acquire(profile)
            try:
                if container is not None:
                    handed.append(container.id)
                    await asyncio.sleep(0.05)  # held a while, as a call would
            finally:
                sandbox.pool.done(profile)
                if container is not None:
                    sandbox._factory.discard(container)
            await asyncio.sleep(0.1)

    try:
        sandbox.pool.take(profile)  # the profile becomes known
        sandbox.pool.done(profile)
        await asyncio.sleep(2)
        await asyncio.gather(*(taker() for _ in range(6)))
    finally:
        await sandbox.close()
    assert len(handed) >= 6, handed
    assert len(set(handed)) == len(handed), handed
    left = {c["Id"]: c["State"] for c in _ours(grown)}
    assert not left.keys() & set(handed), left
    assert left == {}, left  # closing the pool leaves nothing behind, starts included


async def test_a_warm_python_has_json_imported_and_nothing_of_the_stub(pool_stub, skill_dir):
    """The waiting interpreter imported json before the call (PRELOADED), and the script
    still runs as `python -I -S script args`: its own argv, a fresh __main__."""
    body = (
        "import sys\n"
        "had = 'json' in sys.modules and 'urllib.parse' in sys.modules\n"
        "import json\n"
        "print(json.dumps({'had': had, 'argv': sys.argv[1:], 'names': sorted(\n"
        "    n for n in globals() if not n.startswith('__'))}))\n"
    )
    entry = write_script(skill_dir, "pre.py", body)
    await execute(pool_stub, request(skill_dir, entry))
    assert await _pool_ready(pool_stub, 1) == 1
    out = await execute(pool_stub, request(skill_dir, entry, args=["a", "b"]))
    assert out.events[0].started.warm is True
    assert json.loads(out.stdout) == {
        "had": True,
        "argv": ["a", "b"],
        "names": ["had", "json", "sys"],
    }


async def test_a_launcher_killed_from_outside_is_read_from_the_engine(stub, skill_dir, settings):
    """No end marker (the launcher itself is SIGKILLed from the host mid-call): the exit
    status comes from one engine wait, 128 + SIGKILL, reported as a signal death, and the
    call ends at once instead of running out its wall time."""
    entry = write_script(
        skill_dir, "long.py", "import time\nprint('up', flush=True)\ntime.sleep(20)\n"
    )
    call = asyncio.create_task(execute(stub, request(skill_dir, entry)))
    launcher = 0
    for _ in range(400):
        launcher = _launcher_pid(settings)
        if launcher:
            break
        await asyncio.sleep(0.05)
    assert launcher, "no launcher found"
    await asyncio.sleep(0.5)  # the script is running
    begin = time.monotonic()
    os.kill(launcher, signal.SIGKILL)
    out = await asyncio.wait_for(call, 15)
    assert time.monotonic() - begin < 10
    assert out.finished.exit_code == 128 + signal.SIGKILL, out.finished
    assert out.finished.kill_reason == pb.KILL_REASON_SIGNALED, out.finished


def _launcher_pid(settings: Settings) -> int:
    """The host pid of the launcher (docker-init's child) in this executor's running
    container, 0 while there is none."""
    running = [c for c in _ours(settings) if c["State"] == "running"]
    if not running:
        return 0
    init = _engine().inspect_container(running[0]["Id"])["State"]["Pid"]
    children = Path(f"/proc/{init}/task/{init}/children")
    found = children.read_text().split() if children.exists() else []
    return int(found[0]) if found else 0
