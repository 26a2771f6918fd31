"""Checking a call's input before policy sees it: size, JSON Schema, and path resolution."""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from ..errors import InvalidInput, Unavailable
from ..skills import InputProblem, NeedsWorker, ValidationPool, ValidationUnavailable, check_input


def canonical_json(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def input_sha256(value: Any) -> str:
    return hashlib.sha256(canonical_json(value)).hexdigest()


def encode_input(value: Any, *, max_bytes: int) -> bytes:
    """The input's JSON encoding (the skill's stdin); InvalidInput when it is not a JSON
    object of at most `max_bytes` bytes."""
    if not isinstance(value, dict):
        raise InvalidInput("'input' must be a JSON object", field="input")
    try:
        encoded = json.dumps(
            value, ensure_ascii=False, separators=(",", ":"), allow_nan=False
        ).encode()
    except (ValueError, TypeError, RecursionError) as exc:  # NaN, a lone surrogate, too deep
        reason = (
            "holds a lone UTF-16 surrogate"
            if isinstance(exc, UnicodeError)
            else "is not plain JSON (NaN, Infinity or nested too deeply)"
        )
        raise InvalidInput(f"input {reason}", field="input") from None
    if len(encoded) > max_bytes:
        raise InvalidInput(
            f"input is {len(encoded)} bytes; the limit is {max_bytes}", field="input"
        )
    return encoded


def _refuse(problem: InputProblem | None) -> None:
    if problem is None:
        return
    extra = {} if problem.keyword is None else {"validator": problem.keyword}
    raise InvalidInput(problem.message, code=problem.code, field=problem.field, **extra)


def validate_input(
    skill_key: str, schema: dict[str, Any] | None, value: Any, *, max_bytes: int
) -> bytes:
    """Validate `value` against the skill's input schema, here and now, with the full
    step budget; return its JSON encoding. Raises InvalidInput naming the offending field
    (`input.a.b`). Blocking: the server uses `validate_input_tiered`."""
    encoded = encode_input(value, max_bytes=max_bytes)
    if schema is not None:
        _refuse(check_input(skill_key, schema, value))
    return encoded


async def check_tiered(
    key: str,
    schema: dict[str, Any],
    value: Any,
    encoded: bytes | None,
    *,
    pool: ValidationPool,
    root: str = "input",
) -> InputProblem | None:
    """The first problem of `value` (whose JSON is `encoded`; None: encoded here only if a
    worker needs it) against `schema`, for the
    event loop: inline within a small CPU slice (the common value ends there, at no extra
    cost), else in one of `pool`'s worker processes, so a costly one never stalls the
    server. Unavailable (503 `validation_unavailable`) when no worker can answer. `root`
    names the value in the problem (`input`, or `output` for a call's output)."""
    try:
        return check_input(key, schema, value, inline=True, root=root)
    except NeedsWorker:
        if encoded is None:
            encoded = json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode()
        try:
            return await pool.check(key, schema, encoded, root=root)
        except ValidationUnavailable as exc:
            raise Unavailable(str(exc), code="validation_unavailable") from None


async def validate_input_tiered(
    skill_key: str,
    schema: dict[str, Any] | None,
    value: Any,
    *,
    max_bytes: int,
    pool: ValidationPool,
) -> bytes:
    """`validate_input` for the event loop (see `check_tiered`)."""
    encoded = encode_input(value, max_bytes=max_bytes)
    if schema is not None:
        _refuse(await check_tiered(skill_key, schema, value, encoded, pool=pool))
    return encoded


@dataclass(frozen=True, slots=True)
class PathAccess:
    """One input value a skill declared as a path, resolved on the host."""

    field: str
    value: str
    resolved: str
    access: str

    def to_policy(self) -> dict[str, str]:
        return {
            "field": self.field,
            "value": self.value,
            "resolved": self.resolved,
            "access": self.access,
        }


def resolve_paths(
    path_inputs: list[tuple[str, str]], value: dict[str, Any], workspace: Path
) -> list[PathAccess]:
    """Resolve each declared path input like the sandbox will: relative to the workspace.

    `realpath` follows every symlink, so a link inside the workspace that points out of
    it resolves to where it really points — which is what policy must judge.
    """
    out: list[PathAccess] = []
    for field, access in path_inputs:
        raw = value.get(field)
        if not isinstance(raw, str):
            continue
        if "\x00" in raw:
            raise InvalidInput(f"input.{field}: path contains a NUL byte", field=f"input.{field}")
        # The sandbox sees the workspace at /workspace: map that prefix back to the host.
        if raw == "/workspace" or raw.startswith("/workspace/"):
            candidate = workspace / raw[len("/workspace/") :]
        else:
            candidate = workspace / raw  # an absolute `raw` replaces the workspace prefix
        out.append(PathAccess(field, raw, os.path.realpath(candidate), access))
    return out


@dataclass(frozen=True, slots=True)
class HostAccess:
    """The host and port of one input value a skill declared as a URL it will fetch."""

    field: str
    host: str  # lower case, punycode for IDN; an IPv6 address without brackets
    port: int

    def to_policy(self) -> dict[str, str | int]:
        return {"field": self.field, "host": self.host, "port": self.port}


_WEB_PORTS = {"http": 80, "https": 443}
# Skills that speak another protocol through the egress proxy's CONNECT tunnel name their
# endpoint as a URL of these schemes: the protocol's well-known port, or None when the
# URL must carry one (`tcp://host:port`).
_SCHEME_PORTS: dict[str, int | None] = {
    **_WEB_PORTS,
    "tcp": None,
    "smtp": 25,
    "smtps": 465,
    "imap": 143,
    "imaps": 993,
    "dns": 53,
}


def resolve_hosts(url_inputs: list[str], value: dict[str, Any]) -> list[HostAccess]:
    """The endpoint each declared URL input asks for; InvalidInput naming the field if the
    value is not a URL of a known scheme (`_SCHEME_PORTS`) with a host. Credentials in the
    URL are refused: they would be stored in the audit log with the input, and belong in a
    header or a secret."""
    out: list[HostAccess] = []
    for field in url_inputs:
        raw = value.get(field)
        if not isinstance(raw, str):
            continue
        where = f"input.{field}"
        try:
            url = urlsplit(raw)
            port = url.port
        except ValueError as exc:
            raise InvalidInput(f"{where}: not a valid URL ({exc})", field=where) from None
        if url.scheme not in _SCHEME_PORTS:
            schemes = ", ".join(f"{name}://" for name in _SCHEME_PORTS)
            raise InvalidInput(f"{where}: only {schemes} URLs", field=where)
        port = port if port is not None else _SCHEME_PORTS[url.scheme]
        if port is None:
            raise InvalidInput(f"{where}: a {url.scheme}:// URL needs a port", field=where)
        if "@" in url.netloc:
            raise InvalidInput(f"{where}: no credentials in the URL; use a header", field=where)
        host = (url.hostname or "").rstrip(".")
        if not host:
            raise InvalidInput(f"{where}: the URL has no host", field=where)
        try:
            host = host.encode("idna").decode("ascii").lower() if ":" not in host else host
        except UnicodeError:
            raise InvalidInput(f"{where}: {host!r} is not a valid host name", field=where) from None
        out.append(HostAccess(field, host, port))
    return out
