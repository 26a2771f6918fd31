"""What looks like a secret: names such as ``GITHUB_TOKEN`` and well-known credential formats.

A name is split into word parts (``_``, ``-``, ``.`` and camelCase boundaries)
and upper-cased, so ``AWS_SECRET_ACCESS_KEY`` and ``apiKey`` match while
``TOKENIZER_MODEL`` and ``DB_PASSWORD_FILE`` do not. `redact` hides credential-looking text in any
message; the checks themselves never put a value in a message.
"""

from __future__ import annotations

import itertools
import re

_SECRET_WORDS = frozenset(
    {
        "PASSWORD",
        "PASSWD",
        "SECRET",
        "SECRETS",
        "TOKEN",
        "APIKEY",
        "CREDENTIAL",
        "CREDENTIALS",
        "AUTH",
    }
)
_SECRET_PAIRS = frozenset({("API", "KEY"), ("ACCESS", "KEY"), ("PRIVATE", "KEY")})
_REFERENCE_SUFFIXES = frozenset({"FILE", "PATH", "DIR"})
_CAMEL = re.compile(r"([a-z0-9])([A-Z])")
_PARTS = re.compile(r"[^A-Z0-9]+")
CREDENTIAL_PATTERNS: dict[str, re.Pattern[str]] = {
    "an AWS access key id": re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"),
    "a GitHub token": re.compile(r"\b(?:gh[pousr]_[A-Za-z0-9]{20,}|github_pat_[A-Za-z0-9_]{20,})"),
    "a Slack token": re.compile(r"\bxox[baprs]-[A-Za-z0-9-]{8,}"),
    "a private key": re.compile(r"-----BEGIN [A-Z0-9 ]*PRIVATE KEY-----"),
    "an API secret key": re.compile(r"\bsk-(?:proj-[A-Za-z0-9_-]{20,}|[A-Za-z0-9]{20,})"),
}
HANDLING_HINT = (
    "use a build secret (RUN --mount=type=secret,id=...) or pass it at run time; "
    "image layers and history keep it forever"
)


def is_secret_name(name: str) -> bool:
    """True when a word part of ``name`` is a secret word (``DB_PASSWORD``, ``apiKey``).

    Names that point at a secret rather than hold it (``DB_PASSWORD_FILE``,
    ``TOKEN_PATH``) are not secrets.
    """
    parts = [p for p in _PARTS.split(_CAMEL.sub(r"\1_\2", name).upper()) if p]
    if not parts or parts[-1] in _REFERENCE_SUFFIXES:
        return False
    if any(part in _SECRET_WORDS for part in parts):
        return True
    return any(pair in _SECRET_PAIRS for pair in itertools.pairwise(parts))


def credential_kind(text: str) -> str | None:
    """What kind of well-known credential ``text`` contains, or None."""
    for kind, pattern in CREDENTIAL_PATTERNS.items():
        if pattern.search(text):
            return kind
    return None


def redact(text: str) -> str:
    """``text`` with every credential-looking substring replaced by ``<redacted>``."""
    for pattern in CREDENTIAL_PATTERNS.values():
        text = pattern.sub("<redacted>", text)
    return text
