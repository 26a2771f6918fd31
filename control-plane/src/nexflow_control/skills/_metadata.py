"""``metadata``: the Agent Skills map, Nexflow limits, and OpenClaw's block.

``metadata`` is a mapping in the spec, but real files also write it as a JSON
(or JSON5) string. Inside it, ``timeoutSec`` and ``maxOutputKb`` are Nexflow
limits, ``idempotent: true`` lets a call whose executor was lost mid-run run again
elsewhere, and ``openclaw`` (older files: ``clawdbot``) is OpenClaw's block, itself
sometimes a JSON5 string: ``requires.bins``, ``requires.env``, ``install``,
``os``, ``emoji``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from ._context import Checker
from ._diagnostics import Code
from ._json5 import loads_json5

DEFAULT_TIMEOUT_SEC = 30
MAX_TIMEOUT_SEC = 3600
DEFAULT_MAX_OUTPUT_KB = 256
MAX_OUTPUT_KB = 16 * 1024
OPENCLAW_KEYS = ("openclaw", "clawdbot")
NEXFLOW_KEYS = ("timeoutSec", "maxOutputKb", "idempotent")


@dataclass
class OpenClaw:
    key: str
    bins: tuple[str, ...] = ()
    env: tuple[str, ...] = ()
    os: tuple[str, ...] = ()
    emoji: str | None = None
    install: list[Any] = field(default_factory=list)


@dataclass
class Metadata:
    raw: dict[str, Any] = field(default_factory=dict)
    timeout_sec: int = DEFAULT_TIMEOUT_SEC
    max_output_kb: int = DEFAULT_MAX_OUTPUT_KB
    idempotent: bool = False
    openclaw: OpenClaw | None = None


def _as_mapping(ck: Checker, value: Any, fld: str) -> dict[str, Any] | None:
    if isinstance(value, str):
        ok, parsed = loads_json5(value)
        if not ok:
            ck.add(fld, Code.BAD_JSON5, f"not a JSON5 object: {parsed}")
            return None
        value = parsed
    if not isinstance(value, dict):
        ck.bad_type(fld, "a mapping", value)
        return None
    return value


def read_metadata(ck: Checker) -> Metadata:
    raw_value = ck.doc.frontmatter.get("metadata")
    if raw_value is None:
        return Metadata()
    raw = _as_mapping(ck, raw_value, "metadata")
    if raw is None:
        return Metadata()
    meta = Metadata(raw=dict(raw))
    meta.timeout_sec = ck.positive_int(
        raw, "timeoutSec", "metadata.timeoutSec", DEFAULT_TIMEOUT_SEC, MAX_TIMEOUT_SEC
    )
    meta.max_output_kb = ck.positive_int(
        raw, "maxOutputKb", "metadata.maxOutputKb", DEFAULT_MAX_OUTPUT_KB, MAX_OUTPUT_KB
    )
    idempotent = raw.get("idempotent", False)
    if isinstance(idempotent, bool):
        meta.idempotent = idempotent
    else:
        ck.bad_type("metadata.idempotent", "true or false", idempotent)
    for key in OPENCLAW_KEYS:
        if key in raw:
            fld = f"metadata.{key}"
            block = _as_mapping(ck, raw[key], fld)
            if block is not None:
                meta.raw[key] = block
                meta.openclaw = _read_openclaw(ck, key, block, fld)
            break
    return meta


def _read_openclaw(ck: Checker, key: str, block: dict[str, Any], fld: str) -> OpenClaw:
    claw = OpenClaw(key=key)
    requires = ck.mapping(block, "requires", f"{fld}.requires")
    claw.bins = ck.string_list(requires, "bins", f"{fld}.requires.bins")
    claw.env = ck.string_list(requires, "env", f"{fld}.requires.env")
    claw.os = ck.string_list(block, "os", f"{fld}.os", split_string=True)
    claw.emoji = ck.string(block, "emoji", f"{fld}.emoji")
    install = block.get("install")
    if isinstance(install, list):
        claw.install = install
    elif install is not None:
        ck.bad_type(f"{fld}.install", "a list", install)
    return claw
