"""Sandbox requests: entrypoint, runtime, image, filesystem and network.

The entrypoint (``location``) must resolve, symlinks followed, to a regular
file strictly inside the skill folder. ``runtime`` is inferred from the
entrypoint's extension, then its shebang, when absent.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Literal

from ._context import Checker
from ._diagnostics import Code
from ._model import WORKSPACE_VAR, FilesystemRequest, NetworkRequest, Runtime

_EXTENSIONS = {
    ".py": Runtime.PYTHON,
    ".sh": Runtime.BASH,
    ".bash": Runtime.BASH,
    ".js": Runtime.NODE,
    ".mjs": Runtime.NODE,
    ".cjs": Runtime.NODE,
}
_INTERPRETERS = re.compile(r"^(?:(python)[0-9.]*|(bash|sh)|(node|nodejs))$")
_IMAGE = re.compile(
    r"^(?:[a-zA-Z0-9.-]+(?::\d{1,5})?/)?[a-z0-9]+(?:[._-][a-z0-9]+)*"
    r"(?:/[a-z0-9]+(?:[._-][a-z0-9]+)*)*(?::\w[\w.-]{0,127})?(?:@sha256:[a-f0-9]{64})?$"
)
_LABEL = r"[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?"
_HOST = re.compile(rf"^(\*\.)?({_LABEL}(?:\.{_LABEL})*)(?::(\d{{1,5}}))?$")
_VARIABLE = re.compile(r"\$\{([^}]*)\}")


def resolve_entrypoint(ck: Checker, skill_dir: Path, location: str) -> Path | None:
    """The entrypoint relative to the skill folder, or None with a diagnostic."""
    if not location.strip() or "\0" in location:
        ck.add("location", Code.BAD_PATH, "location must be a relative file path")
        return None
    try:
        root = skill_dir.resolve()
        target = (root / location).resolve()
    except (OSError, RuntimeError, ValueError):
        ck.add("location", Code.ENTRYPOINT_MISSING, f"cannot resolve {location!r}")
        return None
    if Path(location).is_absolute() or target == root or not target.is_relative_to(root):
        ck.add(
            "location",
            Code.ENTRYPOINT_OUTSIDE_SKILL,
            f"{location!r} resolves outside the skill folder",
        )
        return None
    try:
        is_file = target.is_file()
    except OSError:  # a name too long, a loop of links, a folder we may not read
        is_file = False
    if not is_file:
        ck.add(
            "location", Code.ENTRYPOINT_MISSING, f"{location[:80]!r} does not exist or is no file"
        )
        return None
    return target.relative_to(root)


def _shebang_runtime(path: Path) -> Runtime | None:
    try:
        with open(path, "rb") as fh:
            first = fh.read(256).split(b"\n", 1)[0].decode("utf-8", "replace")
    except OSError:
        return None
    if not first.startswith("#!"):
        return None
    words = first[2:].split()
    if words and Path(words[0]).name == "env":
        words = [w for w in words[1:] if not w.startswith("-")]
    if not words:
        return None
    match = _INTERPRETERS.match(Path(words[0]).name)
    if not match:
        return None
    return Runtime.PYTHON if match.group(1) else Runtime.BASH if match.group(2) else Runtime.NODE


def infer_runtime(entrypoint: Path) -> Runtime | None:
    return _EXTENSIONS.get(entrypoint.suffix.lower()) or _shebang_runtime(entrypoint)


def read_runtime(ck: Checker, skill_dir: Path, entrypoint: Path | None) -> Runtime | None:
    declared = ck.string(ck.doc.frontmatter, "runtime", "runtime")
    inferred = infer_runtime(skill_dir / entrypoint) if entrypoint else None
    if declared is not None:
        try:
            runtime = Runtime(declared.strip().lower())
        except ValueError:
            allowed = ", ".join(r.value for r in Runtime)
            ck.add("runtime", Code.BAD_RUNTIME, f"unknown runtime {declared!r} (use {allowed})")
            return None
        if inferred is not None and inferred is not runtime:
            ck.warn("runtime", Code.BAD_RUNTIME, f"entrypoint looks like {inferred.value}")
        return runtime
    if entrypoint is not None and inferred is None:
        ck.add("location", Code.BAD_RUNTIME, "cannot infer the runtime; set 'runtime'")
    return inferred


def read_image(ck: Checker) -> str | None:
    image = ck.string(ck.doc.frontmatter, "image", "image")
    if image is not None and (len(image) > 255 or not _IMAGE.match(image)):
        ck.add("image", Code.BAD_IMAGE, f"{image[:80]!r} is not a container image reference")
        return None
    return image


def read_dockerfile(ck: Checker, skill_dir: Path) -> bool:
    """True when the folder ships a Dockerfile; it and `image:` exclude each other."""
    if not (skill_dir / "Dockerfile").is_file():
        return False
    if ck.doc.frontmatter.get("image") is not None:
        ck.add(
            "image",
            Code.BAD_IMAGE,
            "the folder ships a Dockerfile, which defines the image: remove 'image' "
            "(put the base image in the Dockerfile's FROM)",
        )
    return True


def read_backend(ck: Checker, sandbox: dict[str, Any]) -> str | None:
    """`sandbox.backend`: docker or nsjail; whether it is honoured is policy's call."""
    backend = sandbox.get("backend")
    if backend is None:
        return None
    if backend not in ("docker", "nsjail"):
        ck.add("sandbox.backend", Code.BAD_VALUE, f"{str(backend)[:40]!r}: use docker or nsjail")
        return None
    return str(backend)


def _check_path(ck: Checker, fld: str, path: str) -> bool:
    for name in _VARIABLE.findall(path):
        if f"${{{name}}}" != WORKSPACE_VAR:
            ck.add(fld, Code.BAD_PATH, f"unknown variable ${{{name}}} (only {WORKSPACE_VAR})")
            return False
    concrete = path.replace(WORKSPACE_VAR, "/workspace")
    if "\0" in path or not concrete.startswith("/"):
        ck.add(fld, Code.BAD_PATH, f"must be absolute or start with {WORKSPACE_VAR}")
        return False
    if WORKSPACE_VAR in path and not path.startswith(WORKSPACE_VAR):
        ck.add(fld, Code.BAD_PATH, f"{WORKSPACE_VAR} may only start a path")
        return False
    if ".." in concrete.split("/"):
        ck.add(fld, Code.BAD_PATH, "'..' is not allowed in a sandbox path")
        return False
    return True


def read_filesystem(ck: Checker, sandbox: dict[str, Any]) -> tuple[FilesystemRequest, ...]:
    items = sandbox.get("filesystem")
    if items is None:
        return ()
    if not isinstance(items, list):
        ck.bad_type("sandbox.filesystem", "a list of {path, mode}", items)
        return ()
    out: list[FilesystemRequest] = []
    for index, item in enumerate(items):
        fld = f"sandbox.filesystem[{index}]"
        if not isinstance(item, dict):
            ck.bad_type(fld, "a mapping {path, mode}", item)
            continue
        for extra in sorted(set(item) - {"path", "mode"}):
            ck.warn(f"{fld}.{extra}", Code.UNKNOWN_FIELD, f"unknown field {extra!r}")
        path = ck.string(item, "path", f"{fld}.path", required=True)
        mode = item.get("mode", "ro")
        if mode not in ("ro", "rw"):
            ck.add(f"{fld}.mode", Code.BAD_MODE, f"mode must be 'ro' or 'rw', not {mode!r}")
            continue
        if path is not None and _check_path(ck, f"{fld}.path", path):
            checked: Literal["ro", "rw"] = "rw" if mode == "rw" else "ro"
            out.append(FilesystemRequest(path.rstrip("/") or "/", checked))
    return tuple(out)


def parse_host(text: str) -> NetworkRequest | None:
    """``host[:port]`` or ``*.domain[:port]`` (lower-cased), or None when malformed."""
    match = _HOST.match(text.strip().lower())
    if not match:
        return None
    wildcard, host, port = match.groups()
    if wildcard and "." not in host:
        return None  # "*.com" would admit a whole top-level domain
    number = int(port) if port else None
    if number is not None and not 1 <= number <= 65535:
        return None
    return NetworkRequest((wildcard or "") + host, number)


def read_network(ck: Checker, sandbox: dict[str, Any]) -> tuple[NetworkRequest, ...]:
    hosts = sandbox.get("network")
    if hosts is None:
        return ()
    if not isinstance(hosts, list):
        ck.bad_type("sandbox.network", "a list of host[:port] strings", hosts)
        return ()
    out: list[NetworkRequest] = []
    for index, text in enumerate(hosts):
        fld = f"sandbox.network[{index}]"
        if not isinstance(text, str):
            ck.bad_type(fld, "a host[:port] string", text)
            continue
        request = parse_host(text)
        if request is None:
            message = f"{text[:80]!r} is not host[:port] or *.domain[:port]"
            ck.add(fld, Code.BAD_NETWORK_HOST, message)
        else:
            out.append(request)
    return tuple(out)
