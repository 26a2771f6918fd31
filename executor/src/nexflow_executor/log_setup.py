"""Structlog setup: JSON lines when stdout is not a TTY, console rendering on a TTY.

`merge_contextvars` runs first so `call_id`/`backend` bound per request appear on
every line; the stdlib loggers (grpc) go through the same processors.

The executor handles what the control plane granted a call, secrets included, and its
egress proxy sees request lines and headers: every line is redacted last, after the
message is formatted and any traceback rendered (`redact_event`). Values under keys
naming a secret (``token``, ``secret``, ``password``, ``authorization``, ``cookie``, ``env``)
become ``[REDACTED]``, and in text: ``Bearer``/``Basic`` credentials, Nexflow API tokens
(``nxf_<id>_`` is kept), ``user:pass@`` in URLs, ``name=value`` pairs whose name looks
secret (``?token=``, ``access_token=``, ``api_key=``) and whole ``Cookie:``/``Authorization:``
header lines. (The executor shares no code with the control plane; this is its own copy
of the rules, kept short.)
"""

from __future__ import annotations

import logging
import re
import sys
from collections.abc import Mapping, MutableMapping
from typing import Any

import structlog

__all__ = ["configure_logging", "redact_event", "redact_text"]

REDACTED = "[REDACTED]"
# A pattern of the names secrets go by (not a secret).
_SECRET_WORDS = ("token", "secret", r"pass(?:wd|word|phrase)?", r"api[_\-]?key", "session")
_SECRET_NAME = (
    "(?i:" + "|".join([*_SECRET_WORDS, "cookie", "auth", "sig", "credential", "jwt", "key"]) + ")"
)
_SECRET_KEY = re.compile(_SECRET_NAME)
_KEY_EXEMPT = ("_file", "_path", "_dir", "_id", "_ids", "_bytes", "_ms")
# Each keeps its `name` group (what the secret was) and loses the rest of the match.
_TEXT_RULES: tuple[re.Pattern[str], ...] = (
    re.compile(r"(?P<name>(?i:\b(?:set-)?cookie|\bauthorization)\s*:\s*)[^\r\n]*"),
    re.compile(r"(?P<name>(?i:\bbearer|\bbasic)\s+)[A-Za-z0-9\-._~+/]+=*"),
    re.compile(r"(?P<name>(?<![A-Za-z0-9])nxf_[A-Za-z0-9]{4,64}_)[A-Za-z0-9_\-]{8,}"),
    re.compile(r"(?P<name>://)[^/\s:@]{1,256}:[^/\s@]{1,256}(?=@)"),
    re.compile(
        r"(?P<name>(?:^|(?<=[\s?&;,\"'{]))[\w.\-%]{0,64}?"
        + _SECRET_NAME
        + r"[\w.\-%]{0,32}[\"']?\s{0,4}[=:]\s{0,4}[\"']?)[^\s&;,\"']+"
    ),
)
_MAX_DEPTH = 8


def redact_text(text: str) -> str:
    """`text` with every credential-looking piece replaced by ``[REDACTED]``."""
    for pattern in _TEXT_RULES:
        text = pattern.sub(lambda m: m.group("name") + REDACTED, text)
    return text


def _secret_key(key: str) -> bool:
    low = key.lower()
    if low.endswith(_KEY_EXEMPT):
        return False
    return low == "env" or _SECRET_KEY.search(low) is not None


def _clean(value: Any, depth: int) -> Any:
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, str):
        return redact_text(value)
    if depth >= _MAX_DEPTH:
        return "[too deep]"
    if isinstance(value, Mapping):
        return {
            k: REDACTED if _secret_key(str(k)) else _clean(v, depth + 1) for k, v in value.items()
        }
    if isinstance(value, list | tuple | set | frozenset):
        return [_clean(v, depth + 1) for v in value]
    return redact_text(str(value))


def redact_event(
    _logger: Any, _method: str, event: MutableMapping[str, Any]
) -> MutableMapping[str, Any]:
    """A structlog processor: the event with every secret removed (see the module doc)."""
    for key, value in list(event.items()):
        event[key] = REDACTED if _secret_key(key) else _clean(value, 0)
    return event


def configure_logging(level: str = "info") -> None:
    """Configure structlog and stdlib logging once, for the executor process."""
    shared: list[structlog.types.Processor] = [
        structlog.contextvars.merge_contextvars,
        structlog.stdlib.add_log_level,
        structlog.stdlib.add_logger_name,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    renderer: structlog.types.Processor = (
        structlog.dev.ConsoleRenderer()
        if sys.stdout.isatty()
        else structlog.processors.JSONRenderer()
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
            redact_event,  # last before rendering: the message and traceback are text now
            renderer,
        ],
    )
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(formatter)
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
