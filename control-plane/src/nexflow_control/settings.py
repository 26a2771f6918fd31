"""Control-plane settings, read from `NEXFLOW_*` environment variables.

Built explicitly in the app factory / CLI and in tests — never a module-level singleton.
Nested groups use `__` in variable names, e.g. `NEXFLOW_LIMITS__MAX_INPUT_BYTES=65536`.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, Field, HttpUrl, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

REPO_ROOT = Path(__file__).resolve().parents[3]
"""The checkout this package runs from (built-in skills and policies live there)."""


class LimitSettings(BaseModel):
    """Sizes the control plane enforces before anything reaches policy or the executor."""

    max_body_bytes: int = 1_048_576
    """Largest HTTP request body accepted, in bytes (413 above)."""
    max_input_bytes: int = 262_144
    """Largest skill input, serialized as JSON, in bytes (422 above)."""
    audit_io_bytes: int = 16_384
    """How much of a call's input and output is kept in its audit events, in bytes."""
    result_output_bytes: int = 1_048_576
    """Largest stdout/stderr returned to the caller, in bytes (the executor caps it too)."""


class SandboxSettings(BaseModel):
    """What `nexflow up` asks of the executor it starts."""

    backend: Literal["auto", "docker", "nsjail"] = "auto"
    """Default sandbox backend; auto = Docker when the engine answers and the runtime
    images are built, else nsjail. A skill may ask for another one if policy allows."""
    build_skill_images: bool = True
    """At `nexflow up`, build the images of skills that ship a Dockerfile if missing."""


_LABEL = r"[A-Za-z0-9_](?:[A-Za-z0-9_-]{0,61}[A-Za-z0-9_])?"
VOLUME_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,62}$")
SKILL_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]{0,62}[a-z0-9])?$")
ALLOW_HOST = re.compile(
    rf"^(?:(?:\*\.)?{_LABEL}(?:\.{_LABEL})*|\[[0-9A-Fa-f:.]+\])(?::(?:[0-9]{{1,5}}|\*))?$"
)


class ExecutorTls(BaseModel):
    """Mutual TLS to a remote executor: our client certificate, and the CA and name its
    server certificate must have."""

    ca_file: Path
    """PEM CA certificate(s) the executor's certificate must chain to."""
    cert_file: Path
    """PEM client certificate the control plane presents."""
    key_file: Path
    """PEM private key of that certificate."""
    server_name: str | None = None
    """The name the executor's certificate must carry; default: the target's host."""

    @field_validator("ca_file", "cert_file", "key_file")
    @classmethod
    def _readable(cls, value: Path) -> Path:
        if not value.is_file():
            raise ValueError(f"{value} is not a readable file")
        return value


class ExecutorTarget(BaseModel):
    """One executor: ``unix:///path`` (local), or ``host:port`` over TCP with mutual TLS."""

    target: str
    name: str | None = None
    """Its name in /health, metrics and the audit log; default: the target."""
    tls: ExecutorTls | None = None

    @model_validator(mode="after")
    def _tls_for_tcp_only(self) -> ExecutorTarget:
        local = self.target.startswith("unix:")
        if not local and self.tls is None:
            raise ValueError(f"executor {self.target!r}: a TCP target needs tls (mutual TLS)")
        if local and self.tls is not None:
            raise ValueError(f"executor {self.target!r}: tls is for TCP targets only")
        return self


class PolicySettings(BaseModel):
    """Which policy engine decides, and how policy changes are picked up."""

    opa_url: str | None = None
    """Base URL of an OPA server (``http://host:port``); unset = the embedded engine.
    The control plane uploads its policy directory to that server (see ``policy._opa``)."""
    opa_token: str | None = None
    """Bearer token for the OPA server, when it requires one."""
    opa_timeout_ms: int = Field(default=1000, gt=0)
    """How long one decision may take on the OPA server before the call fails closed, in ms."""
    opa_cache_size: int = Field(default=0, ge=0, le=1_000_000)
    """Decisions the OPA server engine keeps (LRU, forgotten on every reload); 0, the
    default, keeps none, so that every call reaches the server and a server that is down
    stops calls at once. A hit answers without asking the server."""
    reload_interval_s: float = Field(default=1.0, ge=0)
    """How often the policy directory is checked for changes, in seconds; 0 = never."""
    allow_hosts: list[str] = Field(default_factory=list)
    """Hosts added to ``network.allowed_hosts`` for this run (``nexflow up --allow-host``):
    ``HOST``, ``HOST:PORT``, ``HOST:*``, ``*.DOMAIN[:PORT]``, ``[V6]:PORT``."""

    trusted_skills: list[str] = Field(default_factory=list)
    """Skills vouched for in this run (``nexflow up --trust-skill``): per-skill overrides
    ``{"trusted": true}``, so their calls need no unknown-publisher or new-version approval."""

    @field_validator("trusted_skills")
    @classmethod
    def _check_skills(cls, value: list[str]) -> list[str]:
        for name in value:
            if not SKILL_NAME.match(name):
                raise ValueError(f"{name!r} is not a skill name (lowercase letters, digits, -)")
        return value

    @field_validator("allow_hosts")
    @classmethod
    def _check_hosts(cls, value: list[str]) -> list[str]:
        for host in value:
            if not ALLOW_HOST.match(host):
                raise ValueError(
                    f"{host!r} is not HOST, HOST:PORT, HOST:*, *.DOMAIN[:PORT] or [V6]:PORT"
                )
        return [h.lower() for h in value]

    def overlay(self) -> dict[str, Any] | None:
        """The policy data laid over ``policies/`` (``allow_hosts``, ``trusted_skills``),
        or None."""
        config: dict[str, Any] = {}
        if self.allow_hosts:
            config["network"] = {"allowed_hosts": list(self.allow_hosts)}
        if self.trusted_skills:
            config["skills"] = {name: {"trusted": True} for name in self.trusted_skills}
        return {"nexflow": {"config": config}} if config else None


class ApprovalSettings(BaseModel):
    """How long a call may wait for a human, and how often waiting calls are checked."""

    ttl_s: float = Field(default=300.0, gt=0)
    """How long an approval stays pending before it expires (denied), in seconds."""
    sweep_interval_s: float = Field(default=1.0, gt=0)
    """How often pending approvals past their time are expired, in seconds (reading or
    deciding one expires it at once anyway)."""


class ScheduleSettings(BaseModel):
    """How due schedules are found and what counts as missed."""

    tick_s: float = Field(default=1.0, ge=0)
    """How often due schedules are looked for, in seconds; 0 = this control plane runs none."""
    grace_s: float = Field(default=300.0, ge=0)
    """A due time at most this late (a restart, a stall) still runs once; later ones are
    recorded `schedule.missed` and skipped. Seconds."""
    min_interval_s: float = Field(default=60.0, ge=60)
    """The shortest gap a cron schedule may have between two runs, in seconds."""
    max_per_owner: int = Field(default=100, ge=1, le=10_000)
    """How many active or paused schedules one principal may hold (409 `schedule_limit`
    beyond): the scheduler's work and every listing stay bounded."""


class WebSettings(BaseModel):
    """The browser UI: sessions and login throttling."""

    session_lifetime_s: float = Field(default=43_200.0, gt=0)
    """A web session ends this long after login, whatever happens, in seconds (12 h)."""
    session_idle_s: float = Field(default=3_600.0, gt=0)
    """A web session ends after this long without a request, in seconds (1 h)."""
    login_failures: int = Field(default=5, ge=1)
    """Failed logins allowed per user name per window before login is refused (429)."""
    login_failures_per_client: int = Field(default=20, ge=1)
    """Failed logins allowed per client address per window, whatever the names tried."""
    login_window_s: float = Field(default=300.0, gt=0)
    """The window the failure counts cover, in seconds."""
    secure_cookies: bool | None = None
    """Mark cookies `Secure` (sent over HTTPS only); default: in production only."""


class CheckpointSettings(BaseModel):
    """Signed checkpoints of the audit chain head, kept outside the database."""

    enabled: bool = True
    """Write checkpoints while the control plane runs (and a last one at shutdown)."""
    key_file: Path | None = None
    """ed25519 private key (PEM or 32 raw bytes, mode 0600); created when missing, its
    public key written beside it as ``.pub``. Default: HOME/keys/audit-checkpoint.key."""
    file: Path | None = None
    """Append-only JSON-lines file of checkpoints; default: HOME/checkpoints/audit.jsonl."""
    interval_s: float = Field(default=10.0, gt=0)
    """How often the head is checkpointed when it moved, in seconds."""
    every_events: int = Field(default=1000, gt=0)
    """Checkpoint sooner once the head moved by this many events."""


class OtelSettings(BaseModel):
    """OpenTelemetry traces (``tracing``): off unless an endpoint is set."""

    endpoint: HttpUrl | None = None
    """Base URL of an OTLP/HTTP receiver (``http://collector:4318``); spans go to
    ``{endpoint}/v1/traces``. Unset: no tracer provider, every span a no-op. ``nexflow up``
    hands it to its executor too, unless ``NEXFLOW_EXECUTOR_OTEL__ENDPOINT`` is set."""
    flush_ms: int = Field(default=2000, gt=0)
    """How often batched spans are sent, in milliseconds."""
    timeout_s: float = Field(default=10.0, gt=0)
    """How long one export may take before it is dropped, in seconds."""


class MarketplaceSettings(BaseModel):
    """Installing skills from a registry (``nexflow skill install``)."""

    registry_url: str | None = None
    """The registry ``install`` uses when no ``--registry`` is given; unset = always name one."""
    min_age_hours: float = Field(default=0.0, ge=0, le=87_600)
    """Cooldown: resolution skips versions younger than this, in hours (an exact pin does
    not); 0 = off."""


class Settings(BaseSettings):
    """Everything the control plane needs to start."""

    model_config = SettingsConfigDict(env_prefix="NEXFLOW_", env_nested_delimiter="__")

    env: Literal["development", "production"] = "development"
    home: Path = Field(default_factory=lambda: Path.home() / ".nexflow")
    host: str = "127.0.0.1"
    port: int = 8080
    admin_token: str | None = None
    """Bearer token of the built-in admin; generated into HOME/admin.token when unset."""
    database_url: str | None = None
    """SQLAlchemy async URL of the audit store; default: SQLite at HOME/nexflow.db."""
    gateway_url: str | None = None
    """The chat gateway the chat routes are proxied to (`nexflow up` sets it when it starts
    one); unset: those routes answer 503 `gateway_unavailable` saying how to start one."""
    web_chat: bool = True
    """`nexflow up` starts the chat gateway and serves the web chat (`NEXFLOW_WEB_CHAT=false`
    or `--no-web-chat`: no web chat; a gateway still starts for a Telegram or Discord bot
    token in the environment)."""
    gateway_timeout_s: float = Field(default=300.0, gt=0, le=3600)
    """How long a proxied chat request may take (a turn with its skill calls), seconds."""
    executor_socket: Path | None = None
    """Unix socket of the executor; default: HOME/run/executor.sock."""
    executor_timeout_s: float = 5.0
    """How long to wait for the executor to accept a call before failing closed."""
    executors: list[ExecutorTarget] = Field(default_factory=list)
    """The executors calls are dispatched to (``NEXFLOW_EXECUTORS='[{"target":
    "10.0.0.7:7443", "tls": {"ca_file": ..., "cert_file": ..., "key_file": ...}}]'``);
    default: the one local executor at ``executor_socket``."""
    executor_refresh_s: float = Field(default=2.0, ge=0)
    """How often each executor's health, slots and draining are read, in seconds; 0 = never
    (only when /health or the metrics ask)."""
    executor_queue_s: float = Field(default=30.0, ge=0)
    """How long a call waits for a free slot while every executor is full, in seconds;
    then 503 executor_unavailable (nothing ran)."""
    executor_queue_max: int = Field(default=1000, ge=0)
    """How many calls may wait for a slot at once; more are refused at once (503)."""
    policy_dir: Path = REPO_ROOT / "policies"
    policy: PolicySettings = Field(default_factory=PolicySettings)
    skills_dirs: list[Path] = Field(default_factory=list)
    """Extra skill folders, loaded after the built-in ones and HOME/skills."""
    builtin_skills_dir: Path = REPO_ROOT / "skills"
    workspace: Path | None = None
    """The directory file-* skills may touch; default: HOME/workspace."""
    secrets_key: Path | None = None
    """The secrets key file (created 0600 on first use); default: HOME/keys/secrets.key.
    Never inside the database, and never in a directory a skill may be granted."""
    volumes: dict[str, Path] = Field(default_factory=dict)
    """Directories executors know by name (``NEXFLOW_VOLUMES='{"data": "/srv/data"}'``):
    a grant inside one travels as (volume, subpath). ``workspace`` is always one: the
    workspace above unless set here."""
    limits: LimitSettings = Field(default_factory=LimitSettings)
    sandbox: SandboxSettings = Field(default_factory=SandboxSettings)
    approvals: ApprovalSettings = Field(default_factory=ApprovalSettings)
    schedules: ScheduleSettings = Field(default_factory=ScheduleSettings)
    checkpoints: CheckpointSettings = Field(default_factory=CheckpointSettings)
    web: WebSettings = Field(default_factory=WebSettings)
    otel: OtelSettings = Field(default_factory=OtelSettings)
    marketplace: MarketplaceSettings = Field(default_factory=MarketplaceSettings)

    @field_validator("volumes")
    @classmethod
    def _check_volumes(cls, value: dict[str, Path]) -> dict[str, Path]:
        for name, root in value.items():
            if not VOLUME_NAME.match(name):
                raise ValueError(f"{name!r} is not a volume name (a-z, 0-9, _ and -)")
            if not root.is_absolute():
                raise ValueError(f"volume {name!r}: {root} is not an absolute path")
        return value

    @model_validator(mode="after")
    def _refuse_weak_secrets_in_production(self) -> Settings:
        if self.env == "production" and self.admin_token is not None and len(self.admin_token) < 32:
            raise ValueError("NEXFLOW_ADMIN_TOKEN must be at least 32 characters in production")
        return self

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.home / 'nexflow.db'}"

    @property
    def resolved_executor_socket(self) -> Path:
        return self.executor_socket or self.home / "run" / "executor.sock"

    @property
    def resolved_executors(self) -> list[ExecutorTarget]:
        """The configured executors, or the one local executor `nexflow up` starts."""
        local = ExecutorTarget(target=f"unix://{self.resolved_executor_socket}", name="local")
        return self.executors or [local]

    @property
    def resolved_workspace(self) -> Path:
        return (self.workspace or self.home / "workspace").resolve()

    @property
    def resolved_volumes(self) -> dict[str, Path]:
        """Volume name → resolved root, ``workspace`` included."""
        volumes = {"workspace": self.resolved_workspace}
        volumes.update({name: root.resolve() for name, root in self.volumes.items()})
        return volumes

    @property
    def user_skills_dir(self) -> Path:
        return self.home / "skills"

    @property
    def token_file(self) -> Path:
        return self.home / "admin.token"

    @property
    def secrets_key_file(self) -> Path:
        """The key secrets are sealed with: outside the database, 0600."""
        return self.secrets_key or self.home / "keys" / "secrets.key"

    @property
    def checkpoint_key_file(self) -> Path:
        return self.checkpoints.key_file or self.home / "keys" / "audit-checkpoint.key"

    @property
    def checkpoint_public_key_file(self) -> Path:
        return self.checkpoint_key_file.with_suffix(".pub")

    @property
    def checkpoint_file(self) -> Path:
        return self.checkpoints.file or self.home / "checkpoints" / "audit.jsonl"
