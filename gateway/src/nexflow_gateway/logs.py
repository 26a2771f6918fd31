"""Logging: structlog JSON lines on stdout, the standard library's loggers (uvicorn, httpx,
litellm) through the same processors, and every line redacted last: the settings' secret
values (API key, control-plane token) and `Authorization: Bearer …` never leave."""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import MutableMapping
from typing import Any

import structlog

REDACTED = "[redacted]"
_LITELLM = ("LiteLLM", "LiteLLM Router", "LiteLLM Proxy")
_BEARER = re.compile(r"(?i)(bearer\s+)[^\s\"',]+")


class Redactor:
    """A structlog processor removing known secret values and bearer tokens from a line."""

    def __init__(self, secrets: list[str]) -> None:
        self._secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return _BEARER.sub(lambda m: m.group(1) + REDACTED, text)

    def __call__(
        self, _logger: Any, _method: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        event.pop("color_message", None)  # uvicorn's copy of the message with ANSI colours
        for key, value in list(event.items()):
            event[key] = self._value(value, 0)
        return event

    def _value(self, value: Any, depth: int) -> Any:
        if value is None or isinstance(value, bool | int | float):
            return value
        if isinstance(value, str):
            return self.scrub(value)
        if isinstance(value, dict) and depth < 8:
            return {str(k): self._value(v, depth + 1) for k, v in value.items()}
        if isinstance(value, list | tuple) and depth < 8:
            return [self._value(v, depth + 1) for v in value]
        return self.scrub(repr(value))


def configure(secrets: list[str], level: int = logging.INFO) -> None:
    """Route every logger through structlog's JSON renderer, redacted last."""
    redactor = Redactor(secrets)
    shared: list[Any] = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    render: list[Any] = [
        structlog.processors.format_exc_info,
        redactor,
        structlog.processors.JSONRenderer(),
    ]
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.make_filtering_bound_logger(level),
        cache_logger_on_first_use=True,
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(
        structlog.stdlib.ProcessorFormatter(
            foreign_pre_chain=shared,
            processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta, *render],
        )
    )
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    # litellm adds its own handlers at import: call this after importing it.
    for name in ("uvicorn", "uvicorn.error", "uvicorn.access", "httpx", *_LITELLM):
        logging.getLogger(name).handlers[:] = []
        logging.getLogger(name).propagate = True
    for name in _LITELLM:  # one INFO line per model call, saying nothing ours does not
        logging.getLogger(name).setLevel(max(level, logging.WARNING))
