"""Which sandbox backends this executor can use, its default, and the choice per request.

Every backend is checked at start-up; those that pass are available. The default is
the `backend` setting: `docker` or `nsjail` must be available or the executor refuses
to start; `auto` takes Docker when the engine answers and the runtime images are
present, else nsjail. A request picks its backend explicitly, or implicitly by naming
an image (Docker); a backend that is not available is refused, never substituted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import structlog
from nexflow.executor.v1 import executor_pb2 as pb
from nexflow_common.images import HOST_TOOL_IMAGES

from nexflow_executor.errors import BackendUnavailable, ExecutorError, PreconditionFailed
from nexflow_executor.sandbox.base import Sandbox
from nexflow_executor.sandbox.docker_box import DockerSandbox
from nexflow_executor.sandbox.nsjail import NsjailSandbox
from nexflow_executor.settings import Settings

__all__ = ["BACKEND_ENUM", "Backends", "select_backends"]

log = structlog.get_logger("nexflow_executor")
BACKEND_ENUM = {"nsjail": pb.BACKEND_NSJAIL, "docker": pb.BACKEND_DOCKER}
_BY_ENUM = {v: k for k, v in BACKEND_ENUM.items()}


@dataclass
class Backends:
    """The checked backends: usable ones by name, and why the others are not."""

    available: dict[str, Sandbox]
    default: str
    unavailable: dict[str, str] = field(default_factory=dict)

    def pick(self, backend: int, image: str) -> Sandbox:
        """The backend for a request's `backend` field and image. An image nsjail stands in
        for with the host's packages (HOST_TOOL_IMAGES) leaves the choice to the default."""
        pinned = bool(image) and image not in HOST_TOOL_IMAGES
        name = _BY_ENUM.get(backend) or ("docker" if pinned else self.default)
        sandbox = self.available.get(name)
        if sandbox is None:
            reason = self.unavailable.get(name, "unknown backend")
            raise PreconditionFailed(f"backend: {name} is not available on this executor: {reason}")
        return sandbox

    def describe(self) -> pb.DescribeResponse:
        response = pb.DescribeResponse(default_backend=BACKEND_ENUM[self.default])
        for name, enum_value in BACKEND_ENUM.items():
            response.backends.append(
                pb.BackendInfo(
                    backend=enum_value,
                    available=name in self.available,
                    reason=self.unavailable.get(name, ""),
                )
            )
        docker = self.available.get("docker")
        if isinstance(docker, DockerSandbox):
            response.pool_ready, response.pool_profiles = docker.pool.stats()
        return response

    async def start(self) -> None:
        for sandbox in self.available.values():
            await sandbox.start()

    async def close(self) -> None:
        for sandbox in self.available.values():
            await sandbox.close()


def select_backends(settings: Settings) -> Backends:
    """Check every backend and choose the default; BackendUnavailable if it cannot run."""
    candidates: dict[str, Sandbox] = {
        "nsjail": NsjailSandbox(settings),
        "docker": DockerSandbox(settings),
    }
    available: dict[str, Sandbox] = {}
    unavailable: dict[str, str] = {}
    for name, sandbox in candidates.items():
        try:
            sandbox.check()
        except ExecutorError as exc:
            unavailable[name] = exc.message
            continue
        available[name] = sandbox
    docker = available.get("docker")
    images_ready = isinstance(docker, DockerSandbox) and not docker.missing_images
    if settings.backend == "auto":
        default = "docker" if images_ready else "nsjail"
        if default not in available:
            default = next(iter(available), "")
    else:
        default = settings.backend
    if default not in available:
        reasons = "; ".join(f"{n}: {r}" for n, r in unavailable.items())
        raise BackendUnavailable(f"no usable sandbox backend ({settings.backend}): {reasons}")
    if isinstance(docker, DockerSandbox) and docker.missing_images:
        log.warning("executor.images_missing", images=docker.missing_images)
    return Backends(available=available, default=default, unavailable=unavailable)
