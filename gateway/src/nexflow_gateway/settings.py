"""The gateway's settings: env `NEXFLOW_LLM__*` and `NEXFLOW_GATEWAY__*` (nested with `__`).

Built in `main()` or the app factory, never as a module singleton. Secrets are `SecretStr`:
their repr is masked and the log redactor removes their values from every line.
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


class RoutingSettings(BaseModel):
    """When a turn goes to `strong_model` rather than `model` (any rule that fires)."""

    tools_over: int | None = Field(
        None, ge=0, description="more than this many tools offered (skills installed)"
    )
    message_over_chars: int | None = Field(
        2000, ge=0, description="the user's message is longer than this"
    )
    command: str = Field(
        "/strong", min_length=2, max_length=32, description="a message starting with this"
    )


class LLMSettings(BaseModel):
    """Which model answers and how long a turn may run."""

    model: str | None = Field(None, description="litellm model id, e.g. `openai/gpt-4o-mini`")
    api_base: str | None = Field(None, description="provider URL (OpenAI-compatible servers)")
    api_key: SecretStr | None = None
    max_steps: int = Field(8, ge=1, le=50, description="model calls per turn")
    turn_timeout_s: float = Field(120.0, gt=0, le=3600, description="a whole turn, seconds")
    request_timeout_s: float = Field(60.0, gt=0, le=3600, description="one model call")
    max_tokens: int | None = Field(None, ge=1, description="per model call")
    max_tool_output_chars: int = Field(8000, ge=256, le=1_000_000)
    max_tool_argument_bytes: int = Field(64 * 1024, ge=256, le=1_048_576)
    history_turns: int = Field(20, ge=1, le=200, description="earlier turns sent as context")
    strong_model: str | None = Field(
        None, description="litellm model id used when a routing rule fires (default: `model`)"
    )
    routing: RoutingSettings = Field(default_factory=lambda: RoutingSettings())


class GatewaySettings(BaseModel):
    """Where the control plane is and how the gateway's own HTTP API behaves."""

    control_plane_url: str = "http://127.0.0.1:8080"
    token: SecretStr | None = Field(None, description="bearer token for the control plane")
    host: str = "127.0.0.1"
    port: int = Field(8090, ge=0, le=65535)
    max_turns_per_session: int = Field(100, ge=1, le=10_000, description="older turns go")
    retention_days: float = Field(90, gt=0, le=36500, description="idle sessions are deleted")
    max_notes_per_user: int = Field(500, ge=1, le=100_000)
    persona_max_bytes: int = Field(
        16 * 1024, ge=0, le=1_048_576, description="USER.md / WORKSPACE.md, each"
    )
    skills_cache_s: float = Field(10.0, ge=0, le=3600)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="NEXFLOW_", env_nested_delimiter="__", extra="ignore"
    )

    home: Path = Field(
        Path.home() / ".nexflow", description="NEXFLOW_HOME: USER.md, WORKSPACE.md, nexflow.db"
    )
    database_url: str | None = Field(
        None, description="NEXFLOW_DATABASE_URL, the control plane's (default: HOME/nexflow.db)"
    )
    llm: LLMSettings = Field(default_factory=LLMSettings)
    gateway: GatewaySettings = Field(default_factory=GatewaySettings)

    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.home / 'nexflow.db'}"

    def secrets(self) -> list[str]:
        """The secret values the log redactor must never let through."""
        found = [self.llm.api_key, self.gateway.token]
        return [s.get_secret_value() for s in found if s is not None and s.get_secret_value()]
