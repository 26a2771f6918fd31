"""Reading and parsing one Dockerfile into instructions, never raising.

The parser follows BuildKit's (``frontend/dockerfile/parser``): parser
directives (``# syntax=``, ``# escape=``) only at the very top, comments,
line continuations with the escape character (comment and empty lines inside a
continuation are skipped), case-insensitive instructions, leading ``--flags``,
JSON (exec) form versus shell form, and heredocs (``RUN <<EOF``) whose bodies
are kept apart so they are never read as instructions. Every instruction keeps
the 1-based line it starts on. Anything wrong becomes a `Diagnostic`.
"""

from __future__ import annotations

import json
import re
import stat
from dataclasses import dataclass, field
from pathlib import Path

from ._diagnostics import Code, Diagnostic, diag
from ._words import extract_flags, heredoc_markers, name_values, parse_words, split_command

MAX_DOCKERFILE_BYTES = 1024 * 1024
INSTRUCTIONS = frozenset(
    {
        "ADD", "ARG", "CMD", "COPY", "ENTRYPOINT", "ENV", "EXPOSE", "FROM", "HEALTHCHECK",
        "LABEL", "MAINTAINER", "ONBUILD", "RUN", "SHELL", "STOPSIGNAL", "USER", "VOLUME",
        "WORKDIR",
    }
)  # fmt: skip
EXEC_FORMS = frozenset({"ADD", "CMD", "COPY", "ENTRYPOINT", "RUN", "SHELL", "VOLUME"})
HEREDOC_FORMS = frozenset({"ADD", "COPY", "RUN"})
_DIRECTIVE = re.compile(r"^#\s*([a-zA-Z][a-zA-Z0-9]*)\s*=(.*)$")
_KNOWN_DIRECTIVES = frozenset({"syntax", "escape", "check"})
# '["a", ...' or "['a'" : meant as exec form even when it is not valid JSON.
_LOOKS_LIKE_JSON = re.compile(r"""^\[\s*(?:"(?:[^"\\]|\\.)*"|'[^']*')\s*(?:,|\]?$)""")


@dataclass(frozen=True, slots=True)
class Heredoc:
    """The body of one ``<<NAME`` heredoc; ``line`` is its first body line."""

    name: str
    line: int
    body: str


@dataclass(frozen=True, slots=True)
class Instruction:
    """One instruction; ``text`` is everything after the keyword and the flags."""

    keyword: str
    line: int
    end_line: int
    flags: tuple[str, ...]
    text: str
    words: tuple[str, ...]
    exec_form: tuple[str, ...] | None = None
    heredocs: tuple[Heredoc, ...] = ()
    pairs: tuple[tuple[str, str | None], ...] = ()

    def flag(self, name: str) -> str | None:
        """Value of ``--name=value`` (``""`` for a bare ``--name``), or None when absent."""
        for item in self.flags:
            key, _, value = item.partition("=")
            if key.lower() == f"--{name}":
                return value
        return None

    @property
    def args(self) -> tuple[str, ...]:
        """Exec-form arguments, or the shell-form words (quotes still in them)."""
        return self.exec_form if self.exec_form is not None else self.words

    @property
    def script(self) -> str:
        """The text a check of the command should read: arguments and heredoc bodies."""
        head = " ".join(self.exec_form) if self.exec_form is not None else self.text
        return "\n".join([head, *(doc.body for doc in self.heredocs)])


@dataclass
class Dockerfile:
    path: Path
    instructions: list[Instruction] = field(default_factory=list)
    escape: str = "\\"
    directives: dict[str, str] = field(default_factory=dict)
    diagnostics: list[Diagnostic] = field(default_factory=list)


class _Parser:
    def __init__(self, text: str, path: Path) -> None:
        self.lines = text.removeprefix("\ufeff").split("\n")
        self.pos = 0
        self.directives_done = False
        self.doc = Dockerfile(path)

    def problem(self, line: int, fld: str, code: Code, message: str) -> None:
        self.doc.diagnostics.append(diag(self.doc.path, line, fld, code, message))

    def take(self) -> str:
        self.pos += 1
        return self.lines[self.pos - 1].rstrip("\r")

    def trim(self, line: str) -> tuple[str, bool]:
        """Drop a trailing escape character; True when the logical line ends here."""
        trimmed = line.rstrip(" \t")
        if trimmed.endswith(self.doc.escape):
            return trimmed[: -len(self.doc.escape)], False
        return line, True

    def directive(self, line: str) -> None:
        if self.directives_done:
            return
        match = _DIRECTIVE.match(line)
        key = match.group(1).lower() if match else ""
        value = match.group(2).strip() if match else ""
        if not value or key not in _KNOWN_DIRECTIVES:
            self.directives_done = True
            return
        if key in self.doc.directives:
            self.problem(self.pos, key, Code.BAD_DIRECTIVE, f"only one {key} directive is allowed")
        elif key == "escape" and value not in ("\\", "`"):
            self.problem(self.pos, key, Code.BAD_DIRECTIVE, "escape must be '\\' or '`'")
        else:
            self.doc.directives[key] = value
            if key == "escape":
                self.doc.escape = value

    def run(self) -> Dockerfile:
        while self.pos < len(self.lines):
            first = self.take().lstrip()
            start = self.pos
            self.directive(first)
            if first.startswith("#"):
                continue
            part, done = self.trim(first)
            parts = [part]
            empty_seen = False
            while not done and self.pos < len(self.lines):
                body = self.take()
                if body.lstrip().startswith("#"):
                    continue
                if not body.strip():
                    if not empty_seen:
                        self.problem(
                            self.pos,
                            "",
                            Code.EMPTY_CONTINUATION_LINE,
                            "empty continuation line (deprecated; Docker will reject it)",
                        )
                    empty_seen = True
                    continue
                part, done = self.trim(body)
                parts.append(part)
            line = "".join(parts)
            if line.strip():
                self.instruction(line, start)
        return self.doc

    def instruction(self, line: str, start: int) -> None:
        written, rest = split_command(line)
        keyword = written.upper()
        if keyword not in INSTRUCTIONS:
            name = written[:40]
            self.problem(start, name, Code.UNKNOWN_INSTRUCTION, f"unknown instruction {name!r}")
            return
        flags, text = extract_flags(rest)
        exec_form = self.exec_form(keyword, text, start)
        words = tuple(parse_words(text, self.doc.escape)) if exec_form is None else ()
        heredocs: tuple[Heredoc, ...] = ()
        if keyword in HEREDOC_FORMS and exec_form is None and "<<" in line:
            heredocs = self.heredocs(line, start)
        pairs = self.pairs(keyword, text, words, start)
        args = exec_form if exec_form is not None else words
        needed = 2 if keyword in ("ADD", "COPY") else 0 if exec_form is not None else 1
        if len(args) < needed:
            self.problem(start, keyword, Code.SYNTAX_ERROR, f"{keyword} needs {needed} argument(s)")
        self.doc.instructions.append(
            Instruction(
                keyword, start, self.pos, tuple(flags), text, words, exec_form, heredocs, pairs
            )
        )

    def exec_form(self, keyword: str, text: str, start: int) -> tuple[str, ...] | None:
        stripped = text.strip()
        if keyword not in EXEC_FORMS or not stripped.startswith("["):
            return None
        try:
            value = json.loads(stripped)
        except (ValueError, RecursionError):
            if _LOOKS_LIKE_JSON.match(stripped):
                self.problem(
                    start,
                    keyword,
                    Code.BAD_JSON_FORM,
                    "looks like exec (JSON) form but is not a valid JSON array of strings "
                    "(use double quotes and commas); Docker would run it as a shell command",
                )
            return None
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return tuple(value)
        self.problem(
            start, keyword, Code.BAD_JSON_FORM, "exec form must be a JSON array of strings"
        )
        return None

    def heredocs(self, line: str, start: int) -> tuple[Heredoc, ...]:
        found: list[Heredoc] = []
        for name, strip_tabs in heredoc_markers(line):
            first_line = self.pos + 1
            body: list[str] = []
            while self.pos < len(self.lines):
                raw = self.take()
                if (raw.lstrip("\t") if strip_tabs else raw) == name:
                    break
                body.append(raw)
            else:
                message = f"heredoc {name[:40]!r} is never closed"
                self.problem(start, "", Code.UNTERMINATED_HEREDOC, message)
                found.append(Heredoc(name, first_line, "\n".join(body)))
                break
            found.append(Heredoc(name, first_line, "\n".join(body)))
        return tuple(found)

    def pairs(
        self, keyword: str, text: str, words: tuple[str, ...], start: int
    ) -> tuple[tuple[str, str | None], ...]:
        if keyword == "ARG":
            pairs: list[tuple[str, str | None]] = []
            for word in words:
                key, eq, value = word.partition("=")
                if not key:
                    self.problem(start, keyword, Code.SYNTAX_ERROR, "ARG name must not be blank")
                    return ()
                pairs.append((key, value if eq else None))
            return tuple(pairs)
        if keyword not in ("ENV", "LABEL") or not words:
            return ()
        found, problem = name_values(text, list(words))
        if problem is not None:
            self.problem(start, keyword, Code.SYNTAX_ERROR, f"{keyword} {problem}")
        return tuple(found)


def parse_dockerfile(text: str, path: Path = Path("Dockerfile")) -> Dockerfile:
    """Parse Dockerfile text; problems are in ``.diagnostics``, never raised."""
    return _Parser(text, path).run()


def _read_bytes(path: Path) -> tuple[bytes | None, Diagnostic | None]:
    try:
        st = path.stat()
        if not stat.S_ISREG(st.st_mode):
            return None, diag(path, 1, "", Code.UNREADABLE, "not a regular file")
        if st.st_size > MAX_DOCKERFILE_BYTES:
            data = b""
        else:
            with path.open("rb") as fh:
                data = fh.read(MAX_DOCKERFILE_BYTES + 1)
    except OSError as exc:
        return None, diag(path, 1, "", Code.UNREADABLE, f"cannot read: {exc.strerror or exc}")
    if st.st_size > MAX_DOCKERFILE_BYTES or len(data) > MAX_DOCKERFILE_BYTES:
        message = f"larger than {MAX_DOCKERFILE_BYTES} bytes"
        return None, diag(path, 1, "", Code.FILE_TOO_LARGE, message)
    return data, None


def read_dockerfile(path: Path) -> tuple[Dockerfile | None, list[Diagnostic]]:
    """Read and parse a Dockerfile; on a fatal problem the Dockerfile is None."""
    data, problem = _read_bytes(path)
    if data is None:
        return None, [problem] if problem else []
    if b"\x00" in data:
        line = data.count(b"\n", 0, data.index(b"\x00")) + 1
        message = "contains NUL bytes: a binary file, or a text encoding other than UTF-8"
        return None, [diag(path, line, "", Code.BINARY_FILE, message)]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        return None, [diag(path, line, "", Code.NOT_UTF8, f"not valid UTF-8 (byte {exc.start})")]
    doc = parse_dockerfile(text, path)
    return doc, doc.diagnostics
