"""File-system and network attacks against the real sandbox: each fails if the attack works."""

from __future__ import annotations

import asyncio
import json
import os

import grpc
import pytest
from nexflow.executor.v1 import executor_pb2 as pb

from executor.tests.executor_testkit import SANDBOX_UID, execute, make_dir, request, write_script

TRY_READ = (
    "import sys\n"
    "for path in sys.argv[1:]:\n"
    "    try:\n"
    "        print(path, open(path).read())\n"
    "    except OSError as e:\n"
    "        print(path, 'DENIED', type(e).__name__)\n"
)
TRY_WRITE = (
    "import sys\n"
    "for path in sys.argv[1:]:\n"
    "    try:\n"
    "        open(path, 'w').write('pwned')\n"
    "        print(path, 'WROTE')\n"
    "    except OSError as e:\n"
    "        print(path, 'DENIED', type(e).__name__)\n"
)


async def test_cannot_connect_to_a_host_loopback_listener(stub, skill_dir):
    """A TCP listener on the host's 127.0.0.1 is unreachable: the sandbox's lo is its own."""
    accepted: list[bool] = []

    async def on_connect(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(True)
        writer.close()

    server = await asyncio.start_server(on_connect, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    body = (
        "import socket, sys\n"
        "try:\n"
        "    socket.create_connection(('127.0.0.1', int(sys.argv[1])), timeout=2)\n"
        "    print('CONNECTED')\n"
        "except OSError as e:\n"
        "    print('BLOCKED', type(e).__name__)\n"
    )
    entry = write_script(skill_dir, "net.py", body)
    async with server:
        out = await execute(stub, request(skill_dir, entry, args=[str(port)]))
    assert out.stdout.startswith(b"BLOCKED"), out.stdout
    assert accepted == []


async def test_writes_only_land_in_read_write_grants(stub, skill_dir, base_dir):
    """Writing into a rw grant works; a ro grant, /skill, / and system dirs refuse writes."""
    rw = make_dir(base_dir, "rw", sandbox_writable=True)
    ro = make_dir(base_dir, "ro", sandbox_writable=True)  # writable on the host, granted ro
    entry = write_script(skill_dir, "write.py", TRY_WRITE)
    targets = ["/rw/ok.txt", "/ro/no.txt", "/skill/no.txt", "/no.txt", "/usr/no.txt", "/etc/no"]
    req = request(skill_dir, entry, args=targets)
    req.mounts.add(host_path=str(rw), sandbox_path="/rw", writable=True)
    req.mounts.add(host_path=str(ro), sandbox_path="/ro", writable=False)
    out = await execute(stub, req)
    lines = out.stdout.decode().splitlines()
    assert lines[0] == "/rw/ok.txt WROTE"
    assert all("DENIED" in line for line in lines[1:]), lines
    assert (rw / "ok.txt").read_text() == "pwned"
    assert (rw / "ok.txt").stat().st_uid == SANDBOX_UID
    assert not (ro / "no.txt").exists() and not (skill_dir / "no.txt").exists()


async def test_database_unreadable_through_a_symlink_in_a_grant(stub, skill_dir, base_dir, home):
    """A symlink inside a granted dir pointing at the control plane's database reads nothing."""
    ws = make_dir(base_dir, "ws")
    (ws / "db-link").symlink_to(home.db)
    entry = write_script(skill_dir, "read.py", TRY_READ)
    req = request(skill_dir, entry, args=["/workspace/db-link", str(home.db)])
    req.mounts.add(host_path=str(ws), sandbox_path="/workspace")
    out = await execute(stub, req)
    assert b"SECRET" not in out.stdout
    assert out.stdout.count(b"DENIED") == 2


@pytest.mark.parametrize("what", ["db", "home", "parent", "symlink", "skill_dir"])
async def test_database_cannot_be_mounted(stub, skill_dir, base_dir, home, what):
    """Granting the database, its folder, a parent or a symlink to it is refused by validation."""
    link = base_dir / "innocent"
    link.symlink_to(home.db)
    entry = write_script(skill_dir, "read.py", TRY_READ)
    host = {"db": home.db, "home": home.path, "parent": base_dir, "symlink": link}.get(what)
    req = request(
        home.path if what == "skill_dir" else skill_dir,
        "nexflow.db" if what == "skill_dir" else entry,
    )
    if host is not None:
        req.mounts.add(host_path=str(host), sandbox_path="/data")
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await execute(stub, req)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "forbidden" in (err.value.details() or "")


async def test_host_secrets_and_executor_socket_are_invisible(stub, skill_dir, settings, backend):
    """/etc/shadow, the host's /root and the executor's socket and state are not visible;
    /etc is nsjail's synthetic one, or the image's own under Docker, never the host's."""
    entry = write_script(
        skill_dir, "look.py", TRY_READ + "import os\nprint(sorted(os.listdir('/etc')))\n"
    )
    targets = ["/etc/shadow", "/root/.bashrc", str(settings.socket), str(settings.state_dir)]
    out = await execute(stub, request(skill_dir, entry, args=targets))
    lines = out.stdout.decode().splitlines()
    assert all("DENIED" in line for line in lines[:4]), lines
    listing = json.loads(lines[4].replace("'", '"'))
    if backend == "nsjail":
        assert listing == ["group", "hosts", "nsswitch.conf", "passwd"]
    else:
        assert "passwd" in listing
        assert set(listing) != set(os.listdir("/etc"))
    assert settings.socket.is_socket()  # it exists on the host, just not inside


async def test_grants_under_a_private_parent_are_staged(stub, base_dir):
    """A skill and a workspace below a 0700 parent (like /root/.nexflow) still run and read."""
    private = base_dir / "private-home"
    private.mkdir(mode=0o700)
    skill = make_dir(private, "skill")
    entry = write_script(skill, "read.py", TRY_READ)
    ws = make_dir(private, "ws")
    (ws / "note.txt").write_text("staged\n")
    (ws / "note.txt").chmod(0o644)
    req = request(
        skill,
        entry,
        args=["/workspace/note.txt"],
        mounts=[pb.Mount(host_path=str(ws), sandbox_path="/workspace")],
    )
    out = await execute(stub, req)
    assert out.finished.exit_code == 0, out.stderr
    assert b"/workspace/note.txt staged" in out.stdout
    # The private parent itself stays unreachable from inside.
    out = await execute(stub, request(skill, entry, args=[str(private / "ws" / "note.txt")]))
    assert b"DENIED" in out.stdout


async def test_the_staging_root_cannot_be_granted(stub, skill_dir, settings):
    """Granting the staging root (other calls' staged grants) is refused."""
    entry = write_script(skill_dir, "noop.py", "pass\n")
    settings.stage_dir.mkdir(parents=True, exist_ok=True)
    req = request(skill_dir, entry, mounts=[pb.Mount(host_path=str(settings.stage_dir))])
    with pytest.raises(grpc.aio.AioRpcError) as err:
        await execute(stub, req)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
