"""The one logging setup of every Nexflow service: structlog, JSON lines when stdout is
not a TTY and the console renderer when it is; the standard library's loggers (uvicorn,
grpc, sqlalchemy…) go through the same processors. A service's log carries ids
(call_id, principal), never inputs, outputs or secrets — those belong to the audit log.

Every line, ours or a library's, is redacted last, after the message is formatted and
any traceback rendered (`redact_log_event`): values under keys that name a secret
(``authorization``, ``cookie``, ``token``, ``env``… but not ``token_file`` or
``output_bytes``), credential-looking text (the audit log's rules, `secrets.scrub_text`),
``name=value`` / ``name: value`` pairs whose name looks secret (``?token=``,
``&access_token=``, ``nexflow_session=``, ``"api_key": "…"``) and whole
``Cookie:``/``Authorization:`` header lines. uvicorn writes a WebSocket's URL, query string
included, to ``uvicorn.error``; the executor's egress proxy sees request lines and headers:
that is how a secret would otherwise reach the log. A service may also name secret
*values* it holds (an LLM provider's key, its own token): those are removed wherever they
appear, whatever their shape.
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Iterable, Mapping, MutableMapping
from typing import Any

import structlog

from .secrets import REDACTED, is_secret_key, scrub_text

__all__ = ["configure_logging", "redact_log_event", "scrub_log_text"]

_SECRET_PAIR = re.compile(
    # `name=value` or `name: value` at the start, after white space, a quote, a brace or
    # a query/cookie separator, whose name says it holds a secret: keep the name.
    r"(?P<name>(?:^|(?<=[\s?&;,\"'{]))[\w.\-\[\]%]{0,64}?"
    r"(?i:token|secret|pass(?:wd|word|phrase)?|api[_\-]?key|session|cookie|auth|sig"
    r"|credential|jwt|key)[\w.\-\[\]%]{0,32}[\"']?\s{0,4}[=:]\s{0,4}[\"']?)[^\s&;,\"']+"
)
_SECRET_HEADER = re.compile(r"(?P<name>(?i:\b(?:set-)?cookie|\bauthorization)\s*:\s*)[^\r\n]*")
# Keys that name where a secret lives, or measure one, rather than hold it.
_REFERENCE_SUFFIXES = ("_file", "_path", "_dir", "_id", "_ids", "_codes", "_bytes", "_ms")
_MAX_DEPTH = 8
_LIBRARY_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access", "grpc", "sqlalchemy")


def scrub_log_text(text: str) -> str:
    """`text` without credentials, secret pairs or secret header lines."""
    text = scrub_text(text)
    if "=" in text or ":" in text:
        text = _SECRET_PAIR.sub(lambda m: m.group("name") + REDACTED, text)
    if ":" in text:
        text = _SECRET_HEADER.sub(lambda m: m.group("name") + REDACTED, text)
    return text


def _secret_key(key: str) -> bool:
    low = key.lower()
    if low.endswith(_REFERENCE_SUFFIXES):
        return False
    return low == "env" or is_secret_key(low)


def _scrub(value: Any, depth: int) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return scrub_log_text(value)
    if depth >= _MAX_DEPTH:
        return "[too deep]"
    if isinstance(value, Mapping):
        return {
            k: REDACTED if _secret_key(str(k)) else _scrub(v, depth + 1) for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [_scrub(v, depth + 1) for v in value]
    return scrub_log_text(str(value))


def redact_log_event(
    _logger: Any, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """A structlog processor: the event with every secret removed (see the module doc)."""
    for key, value in list(event.items()):
        event[key] = REDACTED if _secret_key(key) else _scrub(value, 0)
    return event


class _KnownValues:
    """A structlog processor removing known secret values from every string of an event."""

    def __init__(self, secrets: Iterable[str]) -> None:
        # Longest first, so a secret containing another is removed whole.
        self._secrets = sorted({s for s in secrets if len(s) >= 4}, key=len, reverse=True)

    def _text(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, REDACTED)
        return text

    def _value(self, value: Any, depth: int) -> Any:
        if isinstance(value, str):
            return self._text(value)
        if isinstance(value, Mapping) and depth < _MAX_DEPTH:
            return {str(k): self._value(v, depth + 1) for k, v in value.items()}
        if isinstance(value, list | tuple) and depth < _MAX_DEPTH:
            return [self._value(v, depth + 1) for v in value]
        return value

    def __call__(
        self, _logger: Any, _method: str, event: MutableMapping[str, Any]
    ) -> MutableMapping[str, Any]:
        for key, value in list(event.items()):
            event[key] = self._value(value, 0)
        return event


def configure_logging(
    level: str | int = "INFO",
    *,
    json: bool | None = None,
    secrets: Iterable[str] = (),
    libraries: Iterable[str] = (),
) -> None:
    """Configure structlog and the standard library once per process. `secrets`: values
    to remove from every line; `libraries`: more loggers that keep handlers of their own
    (call this after importing them) and must go through ours instead."""
    level = logging.getLevelName(level) if isinstance(level, int) else level.upper()
    use_json = not sys.stdout.isatty() if json is None else json
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor = (
        structlog.processors.JSONRenderer() if use_json else structlog.dev.ConsoleRenderer()
    )
    structlog.configure(
        processors=[*shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=True,
    )
    formatter = structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[
            structlog.stdlib.ProcessorFormatter.remove_processors_meta,
            structlog.processors.format_exc_info,
            # last before rendering: the message and traceback are text now
            *([_KnownValues(secrets)] if secrets else []),
            redact_log_event,
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for name in (*_LIBRARY_LOGGERS, *libraries):
        lg = logging.getLogger(name)
        lg.handlers[:] = []
        lg.propagate = True
    # One canonical line per call is ours; uvicorn's access log would be a second one.
    logging.getLogger("uvicorn.access").disabled = True
    logging.getLogger("sqlalchemy.engine").setLevel(logging.WARNING)
