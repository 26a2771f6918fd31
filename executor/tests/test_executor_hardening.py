"""Kernel-facing attacks against the real sandbox on both backends: io_uring, ptrace and its
relatives, setuid files, and the mount table. Each test fails if the attack works."""

from __future__ import annotations

import asyncio
import json
import os
import stat
import subprocess
import sys

import pytest
from nexflow.executor.v1 import executor_pb2 as pb

from executor.tests.executor_testkit import execute, make_dir, request, write_script

# Raw system calls with arguments the kernel rejects in a known way when the call reaches
# it (EFAULT / EBADF), so "blocked" (EPERM, ENOSYS, SIGSYS) cannot be confused with it.
# `i386` makes io_uring_setup through the 32-bit entry point (int 0x80) in a child.
SYSCALL_PROBE = """
import ctypes, errno, json, mmap, os
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long

def named(rc, err):
    return errno.errorcode.get(err, str(rc)) if rc < 0 else 'OK'

def native(nr, *args):
    ctypes.set_errno(0)
    rc = libc.syscall(nr, *args)
    return named(rc, ctypes.get_errno())

def i386_setup():
    # mov eax, 425; mov ebx, 1; xor ecx, ecx; int 0x80; ret
    code = b'\\xb8\\xa9\\x01\\x00\\x00\\xbb\\x01\\x00\\x00\\x00\\x31\\xc9\\xcd\\x80\\xc3'
    buf = mmap.mmap(-1, 4096, prot=mmap.PROT_READ | mmap.PROT_WRITE | mmap.PROT_EXEC)
    buf.write(code)
    fn = ctypes.CFUNCTYPE(ctypes.c_int)(ctypes.addressof(ctypes.c_char.from_buffer(buf)))
    rc = fn()
    return named(rc, -rc)

def in_child(probe, *args):
    # a filter may kill the caller (SIGSYS): each probe runs in its own child
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.write(w, probe(*args).encode())
        os._exit(0)
    os.close(w)
    _, status = os.waitpid(pid, 0)
    out = os.read(r, 64).decode()
    return out or f'killed:{os.WTERMSIG(status) if os.WIFSIGNALED(status) else status}'

print(json.dumps({
    'io_uring_setup': in_child(native, 425, 1, None),
    'io_uring_enter': in_child(native, 426, -1, 0, 0, 0, None, 0),
    'io_uring_register': in_child(native, 427, -1, 0, None, 0),
    'io_uring_setup_x32': in_child(native, 425 | 0x40000000, 1, None),
    'io_uring_setup_i386': in_child(i386_setup),
}))
"""
REACHED = {"EFAULT", "EBADF", "EINVAL", "OK"}


async def test_io_uring_system_calls_never_reach_the_kernel(stub, skill_dir):
    """io_uring_setup/enter/register, also via the x32 and i386 entry points, are refused;
    the same probe on the host shows the calls would otherwise reach the kernel."""
    probe = write_script(skill_dir, "uring.py", SYSCALL_PROBE)
    host = await asyncio.to_thread(
        subprocess.run,
        [sys.executable, str(skill_dir / probe)],
        capture_output=True,
        text=True,
        check=True,
    )
    on_host = json.loads(host.stdout)
    assert on_host["io_uring_setup"] == "EFAULT" and on_host["io_uring_setup_i386"] == "EFAULT"
    assert {on_host["io_uring_enter"], on_host["io_uring_register"]} <= {"EBADF", "EINVAL"}
    out = await execute(stub, request(skill_dir, probe))
    assert out.finished.exit_code == 0, out.stderr
    inside = json.loads(out.stdout)
    assert set(inside) == set(on_host)
    for name, result in inside.items():
        assert result not in REACHED, (name, result)
        assert result in {"EPERM", "ENOSYS"} or result.startswith("killed:"), (name, result)


TRACE_PROBE = """
import ctypes, json, os, signal, time
libc = ctypes.CDLL(None, use_errno=True)
libc.ptrace.restype = ctypes.c_long
libc.process_vm_readv.restype = ctypes.c_ssize_t
PTRACE_ATTACH, PTRACE_SEIZE = 16, 0x4206

class IoVec(ctypes.Structure):
    _fields_ = [('base', ctypes.c_void_p), ('len', ctypes.c_size_t)]

secret = ctypes.create_string_buffer(b'child-memory', 16)
child = os.fork()
if child == 0:
    time.sleep(30)
    os._exit(0)
targets = {'child': child, 'parent': os.getppid(), 'pid1': 1}
res = {}
for name, pid in targets.items():
    if pid <= 0 or pid == os.getpid():
        continue
    for req, label in ((PTRACE_ATTACH, 'attach'), (PTRACE_SEIZE, 'seize')):
        res[f'ptrace_{label}_{name}'] = libc.ptrace(req, pid, None, None) == 0
    got = ctypes.create_string_buffer(16)
    local = IoVec(ctypes.cast(got, ctypes.c_void_p), 16)
    remote = IoVec(ctypes.cast(secret, ctypes.c_void_p), 16)
    n = libc.process_vm_readv(pid, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
    res[f'process_vm_readv_{name}'] = n > 0
    for mode, label in ((os.O_RDONLY, 'read'), (os.O_WRONLY, 'write')):
        try:
            fd = os.open(f'/proc/{pid}/mem', mode)
            res[f'proc_mem_{label}_{name}'] = True
            os.close(fd)
        except OSError:
            res[f'proc_mem_{label}_{name}'] = False
os.kill(child, signal.SIGKILL)
print(json.dumps({'parent': os.getppid(), 'results': res}))
"""


async def test_no_process_in_the_sandbox_can_be_traced(stub, skill_dir, backend):
    """PTRACE_ATTACH and PTRACE_SEIZE on the skill's own child, its parent (Docker: the
    launcher) and pid 1, process_vm_readv on them, and opening their /proc/PID/mem all fail."""
    probe = write_script(skill_dir, "trace.py", TRACE_PROBE)
    out = await execute(stub, request(skill_dir, probe))
    assert out.finished.exit_code == 0, out.stderr
    seen = json.loads(out.stdout)
    results = seen["results"]
    assert "ptrace_attach_child" in results and "process_vm_readv_child" in results
    if backend == "docker":  # the launcher is the parent; docker-init is pid 1
        assert seen["parent"] > 1 and "ptrace_seize_parent" in results
        assert "ptrace_attach_pid1" in results and "proc_mem_write_pid1" in results
    assert not any(results.values()), {k: v for k, v in results.items() if v}


SETUID_WALK = """
import json, os, stat, sys
found, nosuid_missing, count = [], set(), 0
try:
    tops = sorted(os.listdir('/'))
except OSError:  # Docker: the Landlock domain grants no listing of / itself
    tops = sys.argv[1:]
for top in tops:
    if top in ('proc', 'sys'):  # kernel pseudo file systems: no setuid file can exist there
        continue
    for root, dirs, files in os.walk('/' + top):
        for name in [*dirs, *files]:
            path = os.path.join(root, name)
            try:
                st = os.lstat(path)
            except OSError:
                continue
            count += 1
            if st.st_mode & (stat.S_ISUID | stat.S_ISGID) and not stat.S_ISLNK(st.st_mode):
                found.append(path)
            if stat.S_ISDIR(st.st_mode) and not os.statvfs(path).f_flag & os.ST_NOSUID:
                nosuid_missing.add(path.split('/')[1])
print(json.dumps({'found': found, 'count': count, 'nosuid_missing': sorted(nosuid_missing),
                  'python': os.path.exists('/usr/bin/python3')}))
"""
ROOT_ENTRIES = ["bin", "dev", "etc", "home", "lib", "lib64", "nexflow", "opt", "root", "run"]
ROOT_ENTRIES += ["sbin", "skill", "srv", "tmp", "usr", "var", "data"]


def _host_privileged() -> list[str]:
    """Setuid/setgid files on the host's /usr, which the nsjail backend mounts."""
    found = []
    for root, dirs, files in os.walk("/usr"):
        for name in [*dirs, *files]:
            path = os.path.join(root, name)
            mode = os.lstat(path).st_mode
            if mode & (stat.S_ISUID | stat.S_ISGID) and not stat.S_ISLNK(mode):
                found.append(path)
    return found


async def test_no_setuid_or_setgid_file_is_visible(stub, skill_dir, base_dir, backend):
    """Walking every visible file finds no setuid/setgid bit (the host's /usr has some, and a
    grant carrying one is walked too); under nsjail every mount is nosuid as well."""
    data = make_dir(base_dir, "data")
    planted = data / "planted"
    planted.write_bytes(b"#!/bin/sh\n")
    planted.chmod(0o4755)
    probe = write_script(skill_dir, "walk.py", SETUID_WALK)
    req = request(
        skill_dir,
        probe,
        args=ROOT_ENTRIES,
        limits=pb.Limits(wall_time_ms=120_000, cpu_time_ms=120_000),
        mounts=[pb.Mount(host_path=str(data), sandbox_path="/data")],
    )
    out = await execute(stub, req)
    assert out.finished.exit_code == 0, out.stderr
    seen = json.loads(out.stdout)
    assert seen["python"] and seen["count"] > 1000, seen["count"]  # the walk saw the system
    if backend == "nsjail":
        assert _host_privileged(), "the host has no setuid file: this test proves nothing"
        assert seen["nosuid_missing"] == []
    # A setuid file placed in a grant keeps its bit on the host (the grant is the user's
    # data, shown as it is, and runs without privilege: nosuid / no_new_privs); everything
    # else the skill can see carries no such bit.
    assert seen["found"] in ([], ["/data/planted"]), seen["found"]


_DOCKER_RUN_ROOT = ["docker", "run", "--rm", "--network=none", "--user=0", "--entrypoint=find"]


@pytest.mark.docker
def test_docker_runtime_images_carry_no_setuid_file():
    """`find / -xdev -perm /6000` in each runtime image finds nothing."""
    for image in ("nexflow/bash:bookworm", "nexflow/python:bookworm", "nexflow/node:bookworm"):
        done = subprocess.run(
            [*_DOCKER_RUN_ROOT, image, "/", "-xdev", "-perm", "/6000"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout == "", (image, done.stdout)


MOUNT_TABLES = """
import json, os, sys, time
child = os.fork()
if child == 0:
    time.sleep(30)
    os._exit(0)
paths = ['/proc/self/mountinfo', '/proc/self/mounts', '/proc/self/mountstats', '/proc/mounts',
         '/proc/1/mountinfo', '/proc/1/mounts', f'/proc/{os.getppid()}/mountinfo',
         f'/proc/{child}/mountinfo', f'/proc/{child}/mounts', '/proc/thread-self/mountinfo',
         '/etc/mtab']
seen = {}
for path in paths:
    try:
        seen[path] = open(path).read()
    except OSError as e:
        seen[path] = 'ERR ' + type(e).__name__
try:
    seen['cwd'] = os.getcwd()
except OSError as e:
    seen['cwd'] = 'ERR'
os.kill(child, 9)
print(json.dumps(seen))
"""


async def test_mount_tables_reveal_no_host_path(stub, skill_dir, base_dir, settings, home):
    """Every mount table a skill can reach (its own, pid 1's, its parent's, a child's,
    /proc/mounts) names none of the host paths behind its mounts, nor /var/lib/docker."""
    ws = make_dir(base_dir, "workspace", sandbox_writable=True)
    probe = write_script(skill_dir, "mounts.py", MOUNT_TABLES)
    req = request(skill_dir, probe, mounts=[pb.Mount(host_path=str(ws), sandbox_path="/workspace")])
    out = await execute(stub, req)
    assert out.finished.exit_code == 0, out.stderr
    text = out.stdout.decode()
    secrets = [
        base_dir.name,  # a bind mount's root field is relative to its file system
        str(skill_dir),
        str(ws),
        str(home.path),
        str(settings.stage_dir),
        str(settings.state_dir),
        "/var/lib/docker",
        "overlay2",
        "lowerdir",
    ]
    leaked = [s for s in secrets if s in text]
    assert leaked == [], (leaked, json.loads(text))
