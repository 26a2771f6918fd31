"""The gateway's settings: env `NEXFLOW_LLM__*`, `NEXFLOW_GATEWAY__*`, `NEXFLOW_TELEGRAM__*` and
`NEXFLOW_DISCORD__*` (nested with `__`).

Built in `main()` or the app factory, never as a module singleton. Secrets are `SecretStr`:
their repr is masked and the log redactor removes their values from every line.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import BaseModel, Field, SecretStr, model_validator
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
    embedding_model: str | None = Field(
        None,
        description="litellm embedding model id (e.g. `openai/text-embedding-3-small`): notes "
        "get a vector when saved and search ranks by it; unset, search is full-text only",
    )
    embedding_api_base: str | None = Field(None, description="its provider URL (default api_base)")
    embedding_api_key: SecretStr | None = Field(None, description="its key (default api_key)")
    embedding_timeout_s: float = Field(10.0, gt=0, le=600, description="one embedding call")
    embedding_min_similarity: float = Field(
        0.3, ge=-1, le=1, description="cosine a note without the query's words needs to be found"
    )


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
    outbox_poll_s: float = Field(
        2.0, ge=0.05, le=3600, description="how often results owed to chats are fetched"
    )
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"


class TelegramSettings(BaseModel):
    """The Telegram bot: on when `token` is set. `api_base` points at another Bot API server
    (a local `telegram-bot-api`, or a test server)."""

    token: SecretStr | None = Field(None, description="bot token from @BotFather")
    mode: Literal["polling", "webhook"] = "polling"
    api_base: str = Field("https://api.telegram.org", description="Bot API server, no path")
    webhook_url: str | None = Field(None, description="public HTTPS URL Telegram posts to")
    webhook_secret: SecretStr | None = Field(
        None, description="X-Telegram-Bot-Api-Secret-Token: 1-256 of A-Z a-z 0-9 _ -"
    )
    poll_timeout_s: int = Field(30, ge=0, le=50, description="getUpdates long-poll seconds")
    start_timeout_s: float = Field(20.0, gt=0, le=300, description="getMe + webhook set-up")

    @model_validator(mode="after")
    def _webhook_needs_secret(self) -> TelegramSettings:
        if self.mode == "webhook" and self.token is not None:
            secret = self.webhook_secret.get_secret_value() if self.webhook_secret else ""
            if not re.fullmatch(r"[A-Za-z0-9_\-]{16,256}", secret):
                raise ValueError("webhook mode needs WEBHOOK_SECRET: 16-256 of A-Z a-z 0-9 _ -")
            if not self.webhook_url:
                raise ValueError("webhook mode needs WEBHOOK_URL (the public HTTPS address)")
        return self


class DiscordSettings(BaseModel):
    """The Discord bot: on when `token` is set. `api_base` points at another REST API (a
    test server); the gateway address is then read from its `/gateway/bot`."""

    token: SecretStr | None = Field(None, description="bot token from the developer portal")
    api_base: str = Field("https://discord.com/api/v10", description="REST API base URL")
    start_timeout_s: float = Field(30.0, gt=0, le=300, description="login + READY")


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
    telegram: TelegramSettings = Field(default_factory=TelegramSettings)
    discord: DiscordSettings = Field(default_factory=DiscordSettings)

    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite+aiosqlite:///{self.home / 'nexflow.db'}"

    def secrets(self) -> list[str]:
        """The secret values the log redactor must never let through."""
        found = [
            self.llm.api_key,
            self.llm.embedding_api_key,
            self.gateway.token,
            self.telegram.token,
            self.telegram.webhook_secret,
            self.discord.token,
        ]
        return [s.get_secret_value() for s in found if s is not None and s.get_secret_value()]
