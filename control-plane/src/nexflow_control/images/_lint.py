"""``nexflow image lint``: check skill image Dockerfiles and print what is wrong.

A path may be a folder (its ``Dockerfile``, else ``Containerfile``) or a
Dockerfile. Checks on the final stage (and the earlier stages it is built
``FROM``): ``USER`` must be a non-root, preferably numeric, user; the
``io.nexflow.runtime`` and OCI ``title``/``source``/``version`` labels must be
set (``description``/``licenses`` recommended); ``EXPOSE`` is pointless, since
skills get no inbound network. Checks on every stage: base images pinned
(``unpinned_base``, ``base_not_digest_pinned``, ``unresolved_base``), ``ADD``
from URLs or of plain local files, secrets in ``ENV``/``ARG``/``LABEL`` or
anywhere else, and the RUN checks in `_shell`. Messages never contain a
secret's value.

Text output is one ``file:line: field: message [code]`` line per diagnostic and
a summary; ``--json`` prints one JSON document instead. Exit code: 0 when no
error was found (warnings allowed), 1 when any was, 2 when a path is missing,
has no Dockerfile or cannot be read.
"""

from __future__ import annotations

import re
from dataclasses import replace
from pathlib import Path
from typing import TextIO

from ..diagnostics import write_report
from ._diagnostics import PATH_CODES, Code, Diagnostic, diag
from ._dockerfile import Dockerfile, Instruction, read_dockerfile
from ._secrets import HANDLING_HINT, credential_kind, is_secret_name, redact
from ._shell import check_chmod_flag, check_run
from ._stages import Build, Stage, analyse, parse_image
from ._words import expand

DOCKERFILE_NAMES = ("Dockerfile", "Containerfile")
RUNTIMES = ("bash", "node", "python")
RUNTIME_LABEL = "io.nexflow.runtime"
OCI = "org.opencontainers.image."
REQUIRED_LABELS = (RUNTIME_LABEL, f"{OCI}title", f"{OCI}source", f"{OCI}version")
RECOMMENDED_LABELS = (f"{OCI}description", f"{OCI}licenses")
_REMOTE = re.compile(r"^(?:[a-z][a-z0-9+.-]*://|git@)|\.git(?:#.*)?$", re.IGNORECASE)
_ARCHIVE = re.compile(r"\.(?:tar|tar\.(?:gz|bz2|xz|zst)|tgz|tbz2?|txz)$", re.IGNORECASE)


def _check_base(path: Path, build: Build) -> list[Diagnostic]:
    out: list[Diagnostic] = []
    for stage in build.stages:
        image, line = stage.image, stage.from_.line
        if image is None or stage.parent is not None or image == "scratch":
            continue
        ref = parse_image(image)
        if ref is None:
            message = f"{image[:200]!r} is not a valid image reference"
            out.append(diag(path, line, "FROM", Code.BAD_IMAGE_REFERENCE, message))
        elif ref.digest is not None:
            continue
        elif ref.tag in (None, "latest"):
            how = "has no tag" if ref.tag is None else "uses ':latest'"
            message = (
                f"base image {image[:200]!r} {how}; pin a version tag (and its @sha256: digest)"
            )
            out.append(diag(path, line, "FROM", Code.UNPINNED_BASE, message))
        elif not ref.name.startswith("nexflow/"):
            message = f"base image {image[:200]!r} is pinned by tag only; add its @sha256: digest"
            out.append(diag(path, line, "FROM", Code.BASE_NOT_DIGEST_PINNED, message))
    return out


def _check_user(path: Path, final: Stage) -> list[Diagnostic]:
    users = [user for stage in final.lineage() for user in stage.users]
    if not users:
        message = "the final stage never sets USER, so the image runs as root; add USER 1000:1000"
        return [diag(path, final.from_.line, "USER", Code.NON_ROOT_USER, message)]
    instr, result = users[-1]
    user = result.value.strip().partition(":")[0]
    if result.unresolved or result.error:
        message = "USER must not depend on a build argument without a default"
        return [diag(path, instr.line, "USER", Code.NON_ROOT_USER, message)]
    if user in ("", "root") or (user.isascii() and user.isdigit() and int(user) == 0):
        message = "the last USER is root; use a numeric non-root user such as USER 1000:1000"
        return [diag(path, instr.line, "USER", Code.NON_ROOT_USER, message)]
    if not (user.isascii() and user.isdigit()):
        message = (
            f"USER {user[:64]!r} is a name; use a numeric uid (e.g. 1000) so Kubernetes "
            "runAsNonRoot can verify it is not root"
        )
        return [diag(path, instr.line, "USER", Code.USER_NOT_NUMERIC, message)]
    return []


def _check_labels(path: Path, final: Stage) -> list[Diagnostic]:
    labels = {key: value for stage in final.lineage() for key, value in stage.labels.items()}
    out: list[Diagnostic] = []
    for key in (*REQUIRED_LABELS, *RECOMMENDED_LABELS):
        found = labels.get(key)
        result = found[0] if found else None
        line = found[1].line if found else final.from_.line
        if result is not None and (result.value.strip() or result.unresolved):
            continue
        required = key in REQUIRED_LABELS
        code = Code.MISSING_LABEL if required else Code.MISSING_RECOMMENDED_LABEL
        what = "is empty" if found else "is not set"
        message = f"label {key} {what}" + ("" if required else " (recommended)")
        out.append(diag(path, line, f"LABEL.{key}", code, message))
    runtime = labels.get(RUNTIME_LABEL)
    if runtime and runtime[0].value.strip() and runtime[0].value not in RUNTIMES:
        message = f"{RUNTIME_LABEL} must be one of {', '.join(RUNTIMES)}"
        if runtime[0].unresolved:
            message += ", not a build argument"
        fld = f"LABEL.{RUNTIME_LABEL}"
        out.append(diag(path, runtime[1].line, fld, Code.BAD_RUNTIME_LABEL, message))
    return out


def _check_pairs(path: Path, instr: Instruction, escape: str) -> list[Diagnostic]:
    codes = {"ENV": Code.SECRET_IN_ENV, "ARG": Code.SECRET_IN_ARG, "LABEL": Code.SECRET_IN_LABEL}
    out: list[Diagnostic] = []
    for key, value in instr.pairs:
        name = expand(key, None, escape).value
        fld = f"{instr.keyword}.{name[:200]}"
        literal = expand(value, None, escape).value if value is not None else None
        kind = credential_kind(f"{key}={value or ''}")
        named = instr.keyword != "LABEL" and is_secret_name(name)
        if kind is not None:
            message = f"{instr.keyword} holds what looks like {kind}; {HANDLING_HINT}"
        elif named and literal:
            message = f"{instr.keyword} {name} looks like a secret and has a value; {HANDLING_HINT}"
        elif named and instr.keyword == "ARG" and value is None:
            message = f"build argument {name} looks like a secret; {HANDLING_HINT}"
            out.append(diag(path, instr.line, fld, Code.SECRET_BUILD_ARG, message))
            continue
        else:
            continue
        out.append(diag(path, instr.line, fld, codes[instr.keyword], message))
    return out


def _check_add(path: Path, instr: Instruction, escape: str) -> list[Diagnostic]:
    args = instr.exec_form or tuple(expand(w, None, escape).value for w in instr.words)
    sources = args[:-1]
    if any(_REMOTE.search(source) for source in sources):
        message = (
            "ADD from a URL or git remote fetches unverified content; COPY a checked-in "
            "file, or RUN curl and check a sha256 checksum"
        )
        return [diag(path, instr.line, "ADD", Code.ADD_FROM_URL, message)]
    if sources and not all(_ARCHIVE.search(source) for source in sources):
        message = "ADD of a local file; use COPY (ADD is for unpacking local tar archives)"
        return [diag(path, instr.line, "ADD", Code.ADD_INSTEAD_OF_COPY, message)]
    return []


def _check_instruction(
    path: Path, doc: Dockerfile, instr: Instruction, configured: bool
) -> list[Diagnostic]:
    if instr.keyword in ("ENV", "ARG", "LABEL"):
        return _check_pairs(path, instr, doc.escape)
    out: list[Diagnostic] = []
    kind = credential_kind("\n".join([*instr.flags, instr.script]))
    if kind is not None:
        message = f"{instr.keyword} contains what looks like {kind}; {HANDLING_HINT}"
        out.append(diag(path, instr.line, instr.keyword, Code.SECRET_IN_INSTRUCTION, message))
    if instr.keyword == "ADD":
        out.extend(_check_add(path, instr, doc.escape))
    if instr.keyword in ("ADD", "COPY"):
        out.extend(check_chmod_flag(path, instr))
    if instr.keyword == "RUN":
        out.extend(check_run(path, instr, configured))
    return out


def lint_dockerfile(doc: Dockerfile) -> list[Diagnostic]:
    """Every diagnostic for a parsed Dockerfile, parse problems included, by line."""
    path = doc.path
    build, out = analyse(doc)
    out = [*doc.diagnostics, *out]
    configured = any("Install-Recommends" in i.script for i in doc.instructions)
    for instr in doc.instructions:
        out.extend(_check_instruction(path, doc, instr, configured))
    if not build.stages:
        out.append(diag(path, 1, "FROM", Code.NO_FROM, "no FROM instruction: not a Dockerfile"))
    else:
        final = build.stages[-1]
        out.extend(_check_base(path, build))
        out.extend(_check_user(path, final))
        out.extend(_check_labels(path, final))
        for stage in final.lineage():
            for instr in stage.body:
                if instr.keyword == "EXPOSE":
                    message = "EXPOSE has no use: skills get no inbound network"
                    out.append(diag(path, instr.line, "EXPOSE", Code.EXPOSE_PORT, message))
    out = [replace(d, field=redact(d.field), message=redact(d.message)) for d in out]
    return sorted(out, key=lambda d: d.line)


def _target(path: Path) -> tuple[Path | None, Diagnostic | None]:
    try:
        if path.is_dir():
            for name in DOCKERFILE_NAMES:
                if (path / name).exists() or (path / name).is_symlink():
                    return path / name, None
            return None, diag(path, 1, "", Code.NO_DOCKERFILE, "no Dockerfile in this folder")
        if not path.exists():
            return None, diag(path, 1, "", Code.PATH_MISSING, "no such file or folder")
    except (OSError, ValueError) as exc:
        return None, diag(path, 1, "", Code.UNREADABLE, f"cannot read: {exc}")
    return path, None


def lint_report(paths: list[Path]) -> tuple[list[Path], list[Diagnostic]]:
    """(the Dockerfiles that were parsed, all diagnostics) for the given paths."""
    linted: list[Path] = []
    diagnostics: list[Diagnostic] = []
    for path in paths:
        target, problem = _target(path)
        if target is None:
            diagnostics.extend([problem] if problem else [])
            continue
        doc, problems = read_dockerfile(target)
        if doc is None:
            diagnostics.extend(problems)
            continue
        linted.append(target)
        diagnostics.extend(lint_dockerfile(doc))
    return linted, diagnostics


def lint_paths(paths: list[Path]) -> list[Diagnostic]:
    """Every diagnostic (errors and warnings) for the given paths."""
    return lint_report(paths)[1]


def lint_command(paths: list[Path], as_json: bool, out: TextIO) -> int:
    """Print the lint result to ``out``; return 0 valid, 1 any error, 2 a path problem."""
    linted, diagnostics = lint_report(paths)
    files = [str(p) for p in linted]
    valid = write_report(
        out, diagnostics, as_json=as_json, key="dockerfiles", items=files, noun="Dockerfile(s)"
    )
    if any(d.code in PATH_CODES for d in diagnostics):
        return 2
    return 0 if valid else 1
