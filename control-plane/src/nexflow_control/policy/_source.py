"""Reading a policy directory: its Rego modules, its data and its revision."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ._errors import PolicyLoadError

DATA_FILE = "data.json"
TEST_SUFFIX = "_test.rego"


@dataclass(frozen=True, slots=True)
class PolicySource:
    """The files of one policy directory, read once.

    ``modules`` maps relative path to Rego source (``*_test.rego`` excluded); ``data`` is
    every ``data.json`` merged at the document path of its folder, as ``opa eval -d`` does;
    ``revision`` is ``sha256:<hex>`` over the sorted relative names and contents.
    """

    modules: dict[str, str]
    data: dict[str, Any]
    revision: str


def _is_policy_file(relative: Path) -> bool:
    if any(part.startswith(".") for part in relative.parts):
        return False
    if relative.name == DATA_FILE:
        return True
    return relative.suffix == ".rego" and not relative.name.endswith(TEST_SUFFIX)


def _mount(data: dict[str, Any], folder: tuple[str, ...], value: Any, name: str) -> None:
    if not isinstance(value, dict):
        raise PolicyLoadError(f"{name}: the top level must be a JSON object")
    node = data
    for part in folder:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise PolicyLoadError(f"{name}: conflicts with data at {'/'.join(folder)}")
        node = child
    for key, item in value.items():
        if key in node:
            raise PolicyLoadError(f"{name}: key {key!r} is already defined")
        node[key] = item


def _policy_files(directory: Path) -> list[tuple[Path, str, bytes]]:
    """(relative path, posix name, bytes) of every policy file, sorted; raises OSError."""
    if not directory.is_dir():
        raise PolicyLoadError(f"policy directory {directory} does not exist")
    found = []
    for path in sorted(p for p in directory.rglob("*") if p.is_file()):
        relative = path.relative_to(directory)
        if _is_policy_file(relative):
            found.append((relative, relative.as_posix(), path.read_bytes()))
    return found


Overlay = dict[str, Any]
"""Data laid over the directory's data (``nexflow up --allow-host``): objects merge,
lists are extended (without duplicates), other values replace. Part of the revision."""


def _with_overlay(
    files: list[tuple[Path, str, bytes]], overlay: Overlay | None
) -> list[tuple[Path, str, bytes]]:
    if not overlay:
        return files
    raw = json.dumps(overlay, sort_keys=True, separators=(",", ":")).encode()
    return [*files, (Path("<overlay>"), "<overlay>", raw)]


def _merge(base: dict[str, Any], overlay: dict[str, Any]) -> None:
    for key, value in overlay.items():
        current = base.get(key)
        if isinstance(current, dict) and isinstance(value, dict):
            _merge(current, value)
        elif isinstance(current, list) and isinstance(value, list):
            current.extend(v for v in value if v not in current)
        else:
            base[key] = value


def _digest(files: list[tuple[Path, str, bytes]]) -> str:
    digest = hashlib.sha256()
    for _, name, raw in files:
        digest.update(f"{len(name)}:{name}:{len(raw)}:".encode())
        digest.update(raw)
    return f"sha256:{digest.hexdigest()}"


def policy_revision(directory: Path, overlay: Overlay | None = None) -> str:
    """The revision ``read_policy_dir`` would give, without parsing anything.

    Cheap enough to poll every second (it reads the policy files, a few kilobytes);
    raises PolicyLoadError when the directory cannot be read.
    """
    try:
        return _digest(_with_overlay(_policy_files(directory), overlay))
    except OSError as exc:
        raise PolicyLoadError(f"cannot read policy directory {directory}: {exc}") from exc


def read_policy_dir(directory: Path, overlay: Overlay | None = None) -> PolicySource:
    """Read every policy module and data file under ``directory`` (and lay ``overlay`` over
    the data); raise PolicyLoadError."""
    modules: dict[str, str] = {}
    data: dict[str, Any] = {}
    try:
        files = _policy_files(directory)
        for relative, name, raw in files:
            text = raw.decode("utf-8")
            if relative.name == DATA_FILE:
                _mount(data, relative.parent.parts, json.loads(text), name)
            else:
                modules[name] = text
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PolicyLoadError(f"cannot read policy directory {directory}: {exc}") from exc
    if not modules:
        raise PolicyLoadError(f"policy directory {directory} has no .rego module")
    if overlay:
        _merge(data, json.loads(json.dumps(overlay)))  # a copy: the caller's stays as it is
    return PolicySource(modules, data, _digest(_with_overlay(files, overlay)))
