"""The gateway's logging: the services' one setup (`nexflow_common.logs`: JSON lines,
every line redacted), plus the gateway's own secret values (the LLM provider's key, the
control-plane token) removed wherever they appear, and litellm's and httpx's loggers
routed through it."""

from __future__ import annotations

import logging

from nexflow_common.logs import configure_logging

_LITELLM = ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy")


def configure(secrets: list[str], level: int = logging.INFO) -> None:
    """Route every logger through the shared redacting setup; call after importing litellm
    (it adds its own handlers at import)."""
    configure_logging(level, json=True, secrets=secrets, libraries=("httpx", *_LITELLM))
    for name in (*_LITELLM, "aiosqlite"):  # a line per model call / per database operation
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
