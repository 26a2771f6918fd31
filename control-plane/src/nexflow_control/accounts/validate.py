"""What account fields may hold; each check raises `InvalidInput` naming the field.

User names are principal ids as the policy sees them, so they share one charset:
lowercase, 1-64 characters, `[a-z0-9][a-z0-9._-]*`. `admin` is the bootstrap admin's
id and cannot be a user's name (the audit log's `actor` must name one principal).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import timedelta

from ..errors import InvalidInput
from .scopes import ALL_SCOPES, GATEWAY_EXCLUDED, GATEWAY_SCOPES

RESERVED_NAMES = frozenset({"admin"})
MAX_ROLES = 32
MAX_SUBJECT_LEN = 255
MAX_EXPIRY = timedelta(days=3650)

_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
_ROLE = re.compile(r"[a-z0-9][a-z0-9._:-]{0,63}")
_PROVIDER = re.compile(r"[a-z][a-z0-9_-]{0,31}")
_SUBJECT = re.compile(rf"[!-~]{{1,{MAX_SUBJECT_LEN}}}")  # printable ASCII, no space
_TOKEN_NAME = re.compile(r"[^\x00-\x1f\x7f]{1,64}")
_DURATION = re.compile(r"([1-9][0-9]{0,6})([smhdw])")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


def user_name(value: object, field: str = "name") -> str:
    if not isinstance(value, str) or not _NAME.fullmatch(value):
        raise InvalidInput(
            f"{field} must be 1-64 characters of a-z 0-9 . _ -, starting with a letter "
            f"or digit (got {_show(value)})",
            field=field,
        )
    if value in RESERVED_NAMES:
        raise InvalidInput(f"{field} {value!r} is reserved", code="name_reserved", field=field)
    return value


def roles(values: Iterable[object]) -> list[str]:
    """Roles in the given order, duplicates dropped."""
    out: list[str] = []
    for value in values:
        if not isinstance(value, str) or not _ROLE.fullmatch(value):
            raise InvalidInput(
                f"roles: {_show(value)} is not a role (1-64 characters of a-z 0-9 . _ : -)",
                field="roles",
            )
        if value not in out:
            out.append(value)
    if len(out) > MAX_ROLES:
        raise InvalidInput(f"roles: at most {MAX_ROLES} roles", field="roles")
    return out


def scopes(values: Iterable[object]) -> list[str]:
    """Known scopes, sorted, duplicates dropped; at least one."""
    out: set[str] = set()
    for value in values:
        if not isinstance(value, str) or value not in ALL_SCOPES:
            known = ", ".join(sorted(ALL_SCOPES))
            raise InvalidInput(
                f"scopes: {_show(value)} is not a scope (one of {known})", field="scopes"
            )
        out.add(value)
    if not out:
        raise InvalidInput("scopes: a token needs at least one scope", field="scopes")
    if out & GATEWAY_SCOPES and out & GATEWAY_EXCLUDED:
        raise InvalidInput(
            f"scopes: {', '.join(sorted(out & GATEWAY_SCOPES))} cannot be held with "
            f"{', '.join(sorted(out & GATEWAY_EXCLUDED))} (a gateway never approves or "
            "administers)",
            field="scopes",
            code="scope_conflict",
        )
    return sorted(out)


def token_name(value: object) -> str:
    if not isinstance(value, str) or not _TOKEN_NAME.fullmatch(value) or not value.strip():
        raise InvalidInput("name must be 1-64 characters without control characters", field="name")
    return value


def identity(provider: object, subject: object) -> tuple[str, str]:
    if not isinstance(provider, str) or not _PROVIDER.fullmatch(provider):
        raise InvalidInput(
            f"provider must be 1-32 characters of a-z 0-9 _ -, starting with a letter "
            f"(got {_show(provider)})",
            field="provider",
        )
    if not isinstance(subject, str) or not _SUBJECT.fullmatch(subject):
        raise InvalidInput(
            f"subject must be 1-{MAX_SUBJECT_LEN} printable ASCII characters without spaces",
            field="subject",
        )
    return provider, subject


def expiry(value: str, field: str = "expires_in") -> timedelta | None:
    """`30d`, `12h`, `90m`, `45s`, `2w` → a duration; `never` → None."""
    text = value.strip().lower()
    if text == "never":
        return None
    match = _DURATION.fullmatch(text)
    if not match:
        raise InvalidInput(
            f"{field} must be a duration like 30d, 12h, 90m, 2w, or 'never' (got {_show(value)})",
            field=field,
        )
    duration = timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    if duration > MAX_EXPIRY:
        raise InvalidInput(f"{field} must be at most {MAX_EXPIRY.days} days", field=field)
    return duration


def _show(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 70 else text[:67] + "..."
