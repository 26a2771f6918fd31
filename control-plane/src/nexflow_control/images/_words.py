"""Word-level Dockerfile syntax: flags, words, quotes, ``$VAR`` substitution, heredocs.

These follow BuildKit's Dockerfile frontend (``parser/line_parsers.go``,
``parser/split_command.go`` and the ``shell`` lexer) closely enough that the
linter sees the same names, values and heredoc markers Docker would. Nothing
here raises: problems are returned as strings for the caller to report.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

_WHITESPACE = re.compile(r"[\t\v\f\r ]+")
_HEREDOC = re.compile(r"^(\d*)<<(-?)([^<]*)$")
_MAX_NESTING = 32


def split_command(line: str) -> tuple[str, str]:
    """(instruction as written, the rest) of one logical line."""
    parts = _WHITESPACE.split(line.strip(), maxsplit=1)
    return parts[0], parts[1] if len(parts) == 2 else ""


def extract_flags(text: str) -> tuple[list[str], str]:
    """Leading ``--name[=value]`` words (quotes removed) and the text after them."""
    flags: list[str] = []
    pos, n = 0, len(text)
    while True:
        while pos < n and text[pos].isspace():
            pos += 1
        if pos >= n - 1 or text[pos : pos + 2] != "--":
            return flags, text[pos:]
        word: list[str] = []
        quote = ""
        while pos < n and (quote or not text[pos].isspace()):
            ch = text[pos]
            if quote and ch == quote:
                quote = ""
            elif not quote and ch in "'\"":
                quote = ch
            elif ch == "\\" and pos + 1 < n:
                pos += 1
                word.append(text[pos])
            elif ch != "\\":
                word.append(ch)
            pos += 1
        flag = "".join(word)
        if flag == "--":
            return flags, text[pos:].lstrip()
        flags.append(flag)


def parse_words(text: str, escape: str) -> list[str]:
    """Split on whitespace outside quotes; quotes and escapes stay in the words."""
    words: list[str] = []
    word: list[str] = []
    in_word = blank_ok = False
    quote = ""
    pos, n = 0, len(text)
    while pos < n:
        ch = text[pos]
        if not in_word and not quote:
            if ch.isspace():
                pos += 1
                continue
            in_word = True
        if quote:
            if ch == quote:
                quote = ""
            elif ch == escape and quote != "'":
                if pos + 1 == n:
                    break
                word.append(ch)
                pos += 1
                ch = text[pos]
            word.append(ch)
        elif ch.isspace():
            if blank_ok or word:
                words.append("".join(word))
            word, in_word, blank_ok = [], False, False
        else:
            if ch in "'\"":
                quote, blank_ok = ch, True
            if ch == escape:
                if pos + 1 == n:
                    break
                word.append(ch)
                pos += 1
                ch = text[pos]
            word.append(ch)
        pos += 1
    if in_word and (blank_ok or word):
        words.append("".join(word))
    return words


@dataclass
class Expansion:
    """A word after quote removal and substitution."""

    value: str
    unresolved: list[str] = field(default_factory=list)
    error: str | None = None


class _LexError(Exception):
    pass


class _Lexer:
    def __init__(self, text: str, env: Mapping[str, str] | None, escape: str) -> None:
        self.text, self.env, self.escape = text, env, escape
        self.pos = self.depth = 0
        self.unresolved: list[str] = []

    def peek(self) -> str:
        return self.text[self.pos] if self.pos < len(self.text) else ""

    def next(self) -> str:
        ch = self.peek()
        self.pos += 1 if ch else 0
        return ch

    def word(self, stop: str = "") -> str:
        out: list[str] = []
        while True:
            ch = self.next()
            if not ch:
                if stop:
                    raise _LexError(f"missing '{stop}'")
                return "".join(out)
            if ch == stop:
                return "".join(out)
            if ch == self.escape:
                out.append(self.next())
            elif ch == "'":
                end = self.text.find("'", self.pos)
                if end < 0:
                    raise _LexError("unterminated single quote")
                out.append(self.text[self.pos : end])
                self.pos = end + 1
            elif ch == '"':
                out.append(self.double())
            elif ch == "$":
                out.append(self.dollar())
            else:
                out.append(ch)

    def double(self) -> str:
        out: list[str] = []
        while True:
            ch = self.next()
            if not ch:
                raise _LexError("unterminated double quote")
            if ch == '"':
                return "".join(out)
            if ch == "$":
                out.append(self.dollar())
                continue
            if ch == self.escape and self.peek() and self.peek() in ('"', "$", self.escape):
                ch = self.next()
            out.append(ch)

    def name(self) -> str:
        start = self.pos
        if self.peek().isdigit():
            while self.peek().isdigit():
                self.pos += 1
        else:
            while self.peek() and (self.peek().isalnum() or self.peek() == "_"):
                self.pos += 1
        return self.text[start : self.pos]

    def dollar(self) -> str:
        start = self.pos - 1
        self.depth += 1
        if self.depth > _MAX_NESTING:
            raise _LexError("substitutions nested too deeply")
        value = self._dollar()
        self.depth -= 1
        return self.text[start : self.pos] if self.env is None else value

    def _dollar(self) -> str:
        if self.peek() != "{":
            name = self.name()
            return self.lookup(name) if name else "$"
        self.next()
        name = self.name()
        if not name:
            raise _LexError("bad substitution")
        op = self.next()
        if op == "}":
            return self.lookup(name)
        colon = op == ":"
        if colon:
            op = self.next()
        if not op or op not in "-+?":
            raise _LexError(f"unsupported substitution in ${{{name}...}}")
        word = self.word(stop="}")
        env = self.env or {}
        present = bool(env.get(name)) if colon else name in env
        if op == "-":
            return env[name] if present else word
        if op == "+":
            return word if present else ""
        if present:
            return env[name]
        if self.env is not None:
            self.unresolved.append(name)
        return ""

    def lookup(self, name: str) -> str:
        if self.env is not None and name in self.env:
            return self.env[name]
        if self.env is not None:
            self.unresolved.append(name)
        return ""


def expand(word: str, env: Mapping[str, str] | None, escape: str = "\\") -> Expansion:
    """Remove quotes and escapes and substitute ``$VAR``/``${VAR:-default}`` from ``env``.

    With ``env=None`` every variable reference is kept as written (only quotes
    and escapes are removed), which is what a check on the literal text wants.
    """
    lexer = _Lexer(word, env, escape)
    try:
        value = lexer.word()
    except _LexError as exc:
        return Expansion(word, lexer.unresolved, str(exc))
    return Expansion(value, lexer.unresolved)


def name_values(rest: str, words: list[str]) -> tuple[list[tuple[str, str]], str | None]:
    """``ENV``/``LABEL`` pairs (raw, quotes kept): ``k=v k2="v 2"`` or legacy ``k v``."""
    if not words:
        return [], "needs at least one name=value pair"
    if "=" not in words[0]:
        parts = _WHITESPACE.split(rest.strip(), maxsplit=1)
        if len(parts) < 2:
            return [], "needs a name and a value"
        return [(parts[0], parts[1])], None
    pairs: list[tuple[str, str]] = []
    for word in words:
        key, eq, value = word.partition("=")
        if not eq:
            return [], "expected name=value pairs (found a word without '=')"
        if not key:
            return [], "a name must not be blank"
        pairs.append((key, value))
    return pairs, None


def raw_shell_words(text: str) -> list[str]:
    """Split like a shell on whitespace, keeping quotes and backslashes in the words."""
    words: list[str] = []
    word: list[str] = []
    quote = ""
    pos = 0
    while pos < len(text):
        ch = text[pos]
        if not quote and ch.isspace():
            if word:
                words.append("".join(word))
                word = []
        else:
            word.append(ch)
            if quote and ch == quote:
                quote = ""
            elif not quote and ch in "'\"":
                quote = ch
            elif ch == "\\" and quote != "'" and pos + 1 < len(text):
                pos += 1
                word.append(text[pos])
        pos += 1
    if word:
        words.append("".join(word))
    return words


def heredoc_markers(line: str) -> list[tuple[str, bool]]:
    """``(name, strip_tabs)`` for each ``<<NAME``/``<<-NAME`` word of a RUN/COPY/ADD line."""
    markers: list[tuple[str, bool]] = []
    for word in raw_shell_words(line):
        match = _HEREDOC.match(word)
        if match is None or not match.group(3):
            continue
        names = raw_shell_words(match.group(3))
        if len(names) != 1:
            continue
        name = expand(names[0], None)
        if name.error is None and name.value:
            markers.append((name.value, match.group(2) == "-"))
    return markers
