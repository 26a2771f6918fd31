"""Turns an `ExecuteRequest` into a `RunSpec`, or refuses it naming the field at fault.

Every host path is resolved with realpath first and checked after resolution, so a
symlink cannot smuggle a forbidden path past the checks. Refusals:
`InvalidRequest` (bad field), `PreconditionFailed` (well formed but not runnable
here: unwritable grant). Which backend runs it is the service's choice.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path

from nexflow.executor.v1 import executor_pb2 as pb

from nexflow_executor.egress.call import proxy_env
from nexflow_executor.egress.grants import HostGrant, parse_grant
from nexflow_executor.errors import (
    InvalidRequest,
    PreconditionFailed,
)
from nexflow_executor.mounts import resolve_host, resolve_mounts, sandbox_may
from nexflow_executor.sandbox.base import SANDBOX_TMP, MountSpec, RunLimits, RunSpec, Runtime
from nexflow_executor.settings import Settings

__all__ = ["MAX_STDIN_BYTES", "BundlePath", "validate_request"]

MAX_STDIN_BYTES = 1024 * 1024
MAX_NETWORK_HOSTS = 64
# name[:tag][@sha256:digest], with an optional registry host[:port]/ prefix.
_IMAGE = re.compile(
    r"^(?:[a-zA-Z0-9.-]+(?::\d{1,5})?/)?[a-z0-9]+(?:[._-][a-z0-9]+)*"
    r"(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*(?::\w[\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$"
)
_IMAGE_ID = re.compile(r"^sha256:[a-f0-9]{64}$")
_CALL_ID = re.compile(r"[A-Za-z0-9_-]{1,64}")
_ENV_NAME = re.compile(r"[A-Z_][A-Z0-9_]*")
_SECRET_NAME = re.compile(r"[a-z][a-z0-9_]{0,62}")
SECRET_ENV_PREFIX = "NEXFLOW_SECRET_"  # noqa: S105 (a variable prefix, not a secret)
MAX_SECRETS = 32
MAX_SECRET_BYTES = 64 * 1024
_RUNTIMES = {
    pb.RUNTIME_BASH: Runtime.BASH,
    pb.RUNTIME_PYTHON: Runtime.PYTHON,
    pb.RUNTIME_NODE: Runtime.NODE,
}
_WORKSPACE = "/workspace"
_CERTS = "/etc/ssl/certs"
_PATH = "/usr/local/bin:/usr/bin:/bin"


BundlePath = Callable[[str], Path]
"""Where a held bundle is unpacked, by digest; raises `bundle_missing` when not held."""


def validate_request(
    request: pb.ExecuteRequest, settings: Settings, bundle_path: BundlePath
) -> RunSpec:
    """Check every field of `request` and resolve it into a `RunSpec`."""
    if not _CALL_ID.fullmatch(request.call_id):
        raise InvalidRequest("call_id", "required; 1-64 characters of [A-Za-z0-9_-]")
    network = _parse_network(request.network_hosts)
    image = _check_image(request)
    runtime = _RUNTIMES.get(request.runtime)
    if runtime is None:
        raise InvalidRequest(
            "runtime", "required; one of RUNTIME_BASH, RUNTIME_PYTHON, RUNTIME_NODE"
        )
    forbidden = settings.all_forbidden()
    skill_dir = _resolve_skill(request, forbidden, bundle_path)
    entrypoint = _resolve_entrypoint(skill_dir, request.entrypoint)
    _check_readable(settings, skill_dir, entrypoint)
    if len(request.stdin) > MAX_STDIN_BYTES:
        raise InvalidRequest("stdin", f"{len(request.stdin)} bytes is above the 1 MiB maximum")
    for i, arg in enumerate(request.args):
        if "\x00" in arg:
            raise InvalidRequest(f"args[{i}]", "must not contain a NUL character")
    mounts = resolve_mounts(request.mounts, forbidden, settings)
    env = _build_env(request.call_id, request.env, mounts)
    env.update(_secret_env(request.secrets))
    if network:
        env.update(proxy_env(settings.egress))
        mounts = _with_trust_anchors(mounts, env, settings)
    return RunSpec(
        call_id=request.call_id,
        runtime=runtime,
        skill_dir=skill_dir,
        entrypoint=entrypoint,
        args=tuple(request.args),
        stdin=bytes(request.stdin),
        env=env,
        mounts=mounts,
        limits=_resolve_limits(request.limits, settings),
        image=image,
        image_labels=dict(request.image_labels),
        network=network,
    )


def _with_trust_anchors(
    mounts: tuple[MountSpec, ...], env: dict[str, str], settings: Settings
) -> tuple[MountSpec, ...]:
    """Mount the configured CA directory at /etc/ssl/certs, for TLS through the proxy."""
    ca_dir = settings.egress.ca_dir
    if ca_dir is None or not ca_dir.is_dir() or any(m.sandbox_path == _CERTS for m in mounts):
        return mounts
    bundle = f"{_CERTS}/ca-certificates.crt"
    env.update({"SSL_CERT_FILE": bundle, "SSL_CERT_DIR": _CERTS, "NODE_EXTRA_CA_CERTS": bundle})
    anchors = MountSpec(
        host_path=Path(os.path.realpath(ca_dir)), sandbox_path=_CERTS, writable=False
    )
    return tuple(sorted((*mounts, anchors), key=lambda s: s.sandbox_path.count("/")))


def _parse_network(hosts: Iterable[str]) -> tuple[HostGrant, ...]:
    grants: list[HostGrant] = []
    for i, text in enumerate(hosts):
        if i >= MAX_NETWORK_HOSTS:
            raise InvalidRequest("network_hosts", f"more than {MAX_NETWORK_HOSTS} entries")
        try:
            grants.append(parse_grant(text))
        except ValueError as exc:
            raise InvalidRequest(f"network_hosts[{i}]", str(exc)) from exc
    return tuple(grants)


def _check_image(request: pb.ExecuteRequest) -> str:
    image = str(request.image)
    if not image:
        return ""
    if request.backend == pb.BACKEND_NSJAIL:
        raise InvalidRequest("image", "an image needs the Docker backend; nsjail runs no images")
    if len(image) > 255 or not (_IMAGE.match(image) or _IMAGE_ID.match(image)):
        raise InvalidRequest("image", f"{image[:80]!r} is not an image reference or image ID")
    if len(request.image_labels) > 16:
        raise InvalidRequest("image_labels", "at most 16 labels")
    return image


def _resolve_skill(
    request: pb.ExecuteRequest, forbidden: list[Path], bundle_path: BundlePath
) -> Path:
    """The skill folder: a host path (local executors) or a held bundle, exactly one."""
    if bool(request.skill_dir) == bool(request.bundle_sha256):
        raise InvalidRequest("skill_dir", "set exactly one of skill_dir and bundle_sha256")
    if request.bundle_sha256:
        # The executor's own read-only copy: inside its state directory, which no grant
        # may touch, so it skips the grant checks (and is never a grant itself).
        return bundle_path(request.bundle_sha256)
    skill_dir = resolve_host("skill_dir", request.skill_dir, forbidden)
    if not skill_dir.is_dir():
        raise InvalidRequest("skill_dir", f"{request.skill_dir!r} is not a directory")
    return skill_dir


def _resolve_entrypoint(skill_dir: Path, raw: str) -> str:
    if not raw:
        raise InvalidRequest("entrypoint", "required")
    if os.path.isabs(raw) or "\x00" in raw:
        raise InvalidRequest("entrypoint", f"{raw!r} must be a path relative to skill_dir")
    resolved = Path(os.path.realpath(skill_dir / raw))
    if not resolved.is_relative_to(skill_dir) or resolved == skill_dir:
        raise InvalidRequest("entrypoint", f"{raw!r} resolves outside skill_dir")
    if not resolved.is_file():
        raise InvalidRequest("entrypoint", f"{raw!r} is not a file in skill_dir")
    return str(resolved.relative_to(skill_dir))


def _check_readable(settings: Settings, skill_dir: Path, entrypoint: str) -> None:
    if not sandbox_may(settings, skill_dir, 5) or not sandbox_may(
        settings, skill_dir / entrypoint, 4
    ):
        raise PreconditionFailed(
            f"skill_dir: {str(skill_dir)!r} or its entrypoint is not readable by the sandbox "
            f"uid {settings.sandbox_uid}; fix: chmod o+rX (or chown to {settings.sandbox_uid})"
        )


def _build_env(
    call_id: str, extra: Mapping[str, str], mounts: tuple[MountSpec, ...]
) -> dict[str, str]:
    env = {"PATH": _PATH, "HOME": SANDBOX_TMP, "LANG": "C.UTF-8"}
    for name, value in sorted(extra.items()):
        field = f"env[{name!r}]"
        if not _ENV_NAME.fullmatch(name):
            raise InvalidRequest(field, "names must match [A-Z_][A-Z0-9_]*")
        if name.startswith("NEXFLOW_"):
            raise InvalidRequest(field, "names starting with NEXFLOW_ are reserved")
        if "\x00" in value:
            raise InvalidRequest(field, "value must not contain a NUL character")
        env[name] = value
    env["NEXFLOW_CALL_ID"] = call_id
    if any(m.sandbox_path == _WORKSPACE for m in mounts):
        env["NEXFLOW_WORKSPACE"] = _WORKSPACE
    return env


def _secret_env(secrets: Mapping[str, str]) -> dict[str, str]:
    """`NEXFLOW_SECRET_<NAME>` for each granted secret; an error names the secret, never
    its value."""
    if len(secrets) > MAX_SECRETS:
        raise InvalidRequest("secrets", f"at most {MAX_SECRETS} secrets")
    env: dict[str, str] = {}
    for name, value in sorted(secrets.items()):
        field = f"secrets[{name[:64]!r}]"
        if not _SECRET_NAME.fullmatch(name):
            raise InvalidRequest(field, "names must match ^[a-z][a-z0-9_]{0,62}$")
        if "\x00" in value:
            raise InvalidRequest(field, "value must not contain a NUL character")
        if len(value.encode()) > MAX_SECRET_BYTES:
            raise InvalidRequest(field, f"value is above {MAX_SECRET_BYTES} bytes")
        env[SECRET_ENV_PREFIX + name.upper()] = value
    return env


def _resolve_limits(limits: pb.Limits, settings: Settings) -> RunLimits:
    defaults, ceilings = settings.limits.defaults, settings.limits.ceilings
    values: dict[str, int] = {}
    for name in RunLimits.__slots__:
        asked = int(getattr(limits, name))
        value = asked or int(getattr(defaults, name))
        if name == "cpu_time_ms" and not asked:
            value = int(getattr(defaults, name)) or values["wall_time_ms"]
        ceiling = int(getattr(ceilings, name))
        if value > ceiling:
            raise InvalidRequest(f"limits.{name}", f"{value} is above the ceiling of {ceiling}")
        values[name] = value
    if values["memory_bytes"] < settings.limits.min_memory_bytes:
        raise InvalidRequest(
            "limits.memory_bytes",
            f"{values['memory_bytes']} is below the minimum of {settings.limits.min_memory_bytes}",
        )
    return RunLimits(**values)
