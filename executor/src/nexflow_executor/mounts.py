"""Granted mounts: host paths and volumes resolved with realpath, checked, and placed.

A grant names either a host path (local executors: a path on this host) or one of the
executor's configured volumes and a subpath inside it (`NEXFLOW_EXECUTOR_VOLUMES`, e.g.
`{"workspace": "/srv/nexflow/ws"}`): the control plane then needs to know no host path
at all. Every path is resolved with realpath first and checked after resolution, so a
symlink cannot smuggle a forbidden path, or a path outside its volume, past the checks.
"""

from __future__ import annotations

import os
import posixpath
import stat
from collections.abc import Iterable
from pathlib import Path

from nexflow.executor.v1 import executor_pb2 as pb

from nexflow_executor.errors import InvalidRequest, PreconditionFailed
from nexflow_executor.sandbox.base import SANDBOX_TMP, MountSpec
from nexflow_executor.settings import Settings

__all__ = [
    "recheck_host_path",
    "recheck_skill_dir",
    "resolve_host",
    "resolve_mounts",
    "sandbox_may",
]

# Sandbox paths a mount may not be, nor be inside: the sandbox's own structure.
_RESERVED_TARGETS = (
    "/proc", "/dev", "/sys", "/skill", "/usr", "/lib", "/lib32", "/lib64", "/libx32",
    "/bin", "/sbin", "/etc", SANDBOX_TMP,
)  # fmt: skip
# Host trees never mountable whatever the settings say: /proc/<pid>/root is the host root.
_NEVER_MOUNTABLE = (Path("/proc"), Path("/sys"), Path("/dev"))


def resolve_host(field: str, raw: str, forbidden: Iterable[Path]) -> Path:
    """realpath an absolute host path, then refuse it if it touches a forbidden path."""
    if not raw:
        raise InvalidRequest(field, "required")
    if not os.path.isabs(raw):
        raise InvalidRequest(field, f"{raw!r} must be an absolute path")
    if "\x00" in raw:
        raise InvalidRequest(field, "must not contain a NUL character")
    for never in _NEVER_MOUNTABLE:
        if Path(os.path.normpath(raw)).is_relative_to(never):
            raise InvalidRequest(field, f"{raw!r} is inside {never}, which is never mountable")
    try:
        resolved = Path(os.path.realpath(raw, strict=True))
    except OSError as exc:
        raise InvalidRequest(field, f"{raw!r} cannot be resolved: {exc.strerror}") from exc
    if resolved == Path("/"):
        raise InvalidRequest(field, "the host's root directory cannot be mounted")
    for never in _NEVER_MOUNTABLE:
        if resolved.is_relative_to(never):
            raise InvalidRequest(field, f"{raw!r} is inside {never}, which is never mountable")
    for bad in forbidden:
        if resolved.is_relative_to(bad) or bad.is_relative_to(resolved):
            raise InvalidRequest(
                field,
                f"{raw!r} resolves to {str(resolved)!r}, which is or contains a forbidden path",
            )
    return resolved


def _resolve_volume(field: str, mount: pb.Mount, settings: Settings) -> tuple[Path, str]:
    """The realpath of <volume root>/<subpath>, refused unless it stays inside the root;
    and the default sandbox path, /<volume>[/<subpath>]."""
    root_setting = settings.volumes.get(mount.volume)
    if root_setting is None:
        known = ", ".join(sorted(settings.volumes)) or "none"
        raise InvalidRequest(f"{field}.volume", f"unknown volume {mount.volume!r} (known: {known})")
    sub = mount.subpath
    if sub.startswith("/") or "\x00" in sub or ".." in sub.split("/"):
        raise InvalidRequest(f"{field}.subpath", f"{sub!r} must be relative, without '..'")
    try:
        root = Path(os.path.realpath(root_setting, strict=True))
        resolved = Path(os.path.realpath(root / sub, strict=True))
    except OSError as exc:
        raise InvalidRequest(
            f"{field}.subpath", f"{mount.volume}:{sub!r} cannot be resolved: {exc.strerror}"
        ) from exc
    if not resolved.is_relative_to(root):
        raise InvalidRequest(f"{field}.subpath", f"{sub!r} resolves outside volume {mount.volume}")
    normal = posixpath.normpath(sub) if sub else "."
    return resolved, f"/{mount.volume}" + ("" if normal == "." else f"/{normal}")


def resolve_mounts(
    raw_mounts: Iterable[pb.Mount], forbidden: list[Path], settings: Settings
) -> tuple[MountSpec, ...]:
    """Every granted mount resolved and checked; parents before children."""
    mounts: list[MountSpec] = []
    seen: set[str] = set()
    for i, m in enumerate(raw_mounts):
        field = f"mounts[{i}]"
        if m.volume:
            if m.host_path:
                raise InvalidRequest(field, "set exactly one of host_path and volume")
            volume_path, default_target = _resolve_volume(field, m, settings)
            # The volume's own checks passed; the forbidden paths apply to it too.
            host = resolve_host(f"{field}.volume", str(volume_path), forbidden)
        else:
            if m.subpath:
                raise InvalidRequest(f"{field}.subpath", "only with volume")
            host = resolve_host(f"{field}.host_path", m.host_path, forbidden)
            default_target = str(host)
        target = _check_target(f"{field}.sandbox_path", m.sandbox_path or default_target)
        if target in seen:
            raise InvalidRequest(f"{field}.sandbox_path", f"{target!r} is mounted twice")
        seen.add(target)
        if m.writable and not sandbox_may(settings, host, 3 if host.is_dir() else 2):
            raise PreconditionFailed(
                f"{field}: {str(host)!r} is granted read-write but the sandbox uid "
                f"{settings.sandbox_uid} cannot write it; fix: "
                f"chown {settings.sandbox_uid}:{settings.sandbox_gid} {str(host)!r}"
            )
        mounts.append(MountSpec(host_path=host, sandbox_path=target, writable=m.writable))
    # Parents before children, so a nested grant is not hidden by its parent's mount.
    return tuple(sorted(mounts, key=lambda s: s.sandbox_path.count("/")))


def _check_target(field: str, raw: str) -> str:
    if not raw.startswith("/"):
        raise InvalidRequest(field, f"{raw!r} must be an absolute path")
    if ".." in raw.split("/") or "\x00" in raw:
        raise InvalidRequest(field, f"{raw!r} must not contain '..' or NUL")
    target = "/" + posixpath.normpath(raw).lstrip("/")
    if target == "/":
        raise InvalidRequest(field, "cannot mount over the sandbox root '/'")
    for reserved in _RESERVED_TARGETS:
        if target == reserved or target.startswith(reserved + "/"):
            raise InvalidRequest(field, f"{target!r} is reserved ({reserved} is a system path)")
    return target


def sandbox_may(settings: Settings, path: Path, bits: int) -> bool:
    """Whether the sandbox's outside uid/gid has `bits` (r=4, w=2, x=1) on `path`."""
    st = path.stat()
    if st.st_uid == settings.sandbox_uid:
        shift = 6
    elif st.st_gid == settings.sandbox_gid:
        shift = 3
    else:
        shift = 0
    return (stat.S_IMODE(st.st_mode) >> shift) & bits == bits


def recheck_host_path(path: Path, settings: Settings) -> None:
    """Re-check an already resolved grant just before it is mounted again (warm pool refill):
    it must still resolve to itself and touch no forbidden path."""
    resolved = resolve_host("mounts", str(path), settings.all_forbidden())
    if resolved != path:
        raise PreconditionFailed(f"grant {str(path)!r} now resolves to {str(resolved)!r}")


def recheck_skill_dir(path: Path, settings: Settings) -> None:
    """Re-check a skill folder before it is mounted again: a cached bundle (which lives in
    the forbidden state directory, on purpose) must still be there, as a real directory;
    any other folder is re-checked like a grant."""
    if path.parent == Path(os.path.realpath(settings.bundle_dir)):
        if path.is_symlink() or not path.is_dir():
            raise PreconditionFailed(f"bundle {path.name[:64]} is no longer cached")
        return
    recheck_host_path(path, settings)
