"""The gateway's settings: env `NEXFLOW_LLM__*` and `NEXFLOW_GATEWAY__*` (nested with `__`).

Built in `main()` or the app factory, never as a module singleton. Secrets are `SecretStr`:
their repr is masked and the log redactor removes their values from every line.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


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


class GatewaySettings(BaseModel):
    """Where the control plane is and how the gateway's own HTTP API behaves."""

    control_plane_url: str = "http://127.0.0.1:8080"
    token: SecretStr | None = Field(None, description="bearer token for the control plane")
    host: str = "127.0.0.1"
    port: int = Field(8090, ge=0, le=65535)
    max_sessions: int = Field(1000, ge=1, le=1_000_000)
    max_turns_per_session: int = Field(100, ge=1, le=10_000)
    skills_cache_s: float = Field(10.0, ge=0, le=3600)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="NEXFLOW_", env_nested_delimiter="__", extra="ignore"
    )

    llm: LLMSettings = Field(default_factory=LLMSettings)
    gateway: GatewaySettings = Field(default_factory=GatewaySettings)

    def secrets(self) -> list[str]:
        """The secret values the log redactor must never let through."""
        found = [self.llm.api_key, self.gateway.token]
        return [s.get_secret_value() for s in found if s is not None and s.get_secret_value()]
