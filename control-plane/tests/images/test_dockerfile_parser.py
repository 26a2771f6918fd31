"""The Dockerfile parser: directives, continuations, heredocs, forms, words and hostile input."""

from __future__ import annotations

import os
import random
from pathlib import Path

import pytest
from nexflow_control.images import Code, Dockerfile, parse_dockerfile, read_dockerfile
from nexflow_control.images._dockerfile import MAX_DOCKERFILE_BYTES
from nexflow_control.images._words import expand, parse_words


def _parse(text: str) -> Dockerfile:
    return parse_dockerfile(text, Path("Dockerfile"))


def _shape(doc: Dockerfile) -> list[tuple[str, int]]:
    return [(i.keyword, i.line) for i in doc.instructions]


def test_instructions_are_case_insensitive() -> None:
    """Lower- and mixed-case instruction names parse as the upper-case instruction."""
    doc = _parse("from alpine:3\nRun echo hi\nuSeR 1000\n")
    assert _shape(doc) == [("FROM", 1), ("RUN", 2), ("USER", 3)]
    assert doc.diagnostics == []


def test_continuation_keeps_start_line_and_joins_text() -> None:
    """A continued instruction keeps its first line; the next one gets its own line."""
    doc = _parse("FROM a:1\nRUN echo one \\\n    && echo two \\\n    && echo three\nUSER 1\n")
    assert _shape(doc) == [("FROM", 1), ("RUN", 2), ("USER", 5)]
    run = doc.instructions[1]
    assert run.end_line == 4
    assert run.words == ("echo", "one", "&&", "echo", "two", "&&", "echo", "three")


def test_comment_lines_inside_continuation_are_skipped() -> None:
    """Comment lines inside a continuation vanish, as in Docker, even when indented."""
    doc = _parse("FROM a:1\nRUN apt-get install \\\n# a comment\n    # indented\n    jq\nUSER 1\n")
    assert doc.instructions[1].text.split() == ["apt-get", "install", "jq"]
    assert _shape(doc)[2] == ("USER", 6)


def test_empty_continuation_line_warns_and_continues() -> None:
    """An empty line inside a continuation is a warning on that line, not an end."""
    doc = _parse("FROM a:1\nRUN echo a \\\n\n    && echo b\nUSER 1\n")
    assert doc.instructions[1].text.split() == ["echo", "a", "&&", "echo", "b"]
    assert [(d.code, d.line, d.is_error) for d in doc.diagnostics] == [
        (Code.EMPTY_CONTINUATION_LINE, 3, False)
    ]
    assert _shape(doc)[2] == ("USER", 5)


def test_continuation_with_trailing_spaces() -> None:
    """A backslash followed by spaces still continues the line."""
    doc = _parse("FROM a:1\nRUN echo a \\   \n  b\n")
    assert doc.instructions[1].words == ("echo", "a", "b")


def test_heredoc_body_is_not_parsed_as_instructions() -> None:
    """``RUN <<EOF`` bodies are kept apart; a ``USER root`` inside is not an instruction."""
    text = "FROM a:1\nRUN <<EOF\nUSER root\nFROM evil\nEOF\nUSER 1000\n"
    doc = _parse(text)
    assert _shape(doc) == [("FROM", 1), ("RUN", 2), ("USER", 6)]
    heredoc = doc.instructions[1].heredocs[0]
    assert (heredoc.name, heredoc.line, heredoc.body) == ("EOF", 3, "USER root\nFROM evil")
    assert doc.diagnostics == []


def test_heredoc_variants() -> None:
    """``<<-EOF`` strips leading tabs from the terminator; quoted names and two heredocs work."""
    text = (
        "FROM a:1\n"
        "RUN <<-'END' bash\n\techo hi\n\tEND\n"
        'COPY <<"one" <<two /dst/\nx\none\ny\ntwo\n'
        "USER 1\n"
    )
    doc = _parse(text)
    assert _shape(doc) == [("FROM", 1), ("RUN", 2), ("COPY", 5), ("USER", 10)]
    assert [h.name for h in doc.instructions[2].heredocs] == ["one", "two"]
    assert doc.instructions[2].heredocs[1].line == 8


def test_heredoc_after_continuation_counts_lines() -> None:
    """Line numbers stay right after a continued heredoc instruction."""
    doc = _parse("FROM a:1\nRUN --network=none \\\n  <<EOF\necho\nEOF\nUSER 7\n")
    assert _shape(doc) == [("FROM", 1), ("RUN", 2), ("USER", 6)]
    assert doc.instructions[1].heredocs[0].line == 4


def test_not_heredocs() -> None:
    """Quoted ``<<``, exec form and non-RUN instructions do not start heredocs."""
    text = 'FROM a:1\nRUN echo "<<EOF"\nCMD ["cat", "<<EOF"]\nENV X=<<EOF\nUSER 1\n'
    doc = _parse(text)
    assert _shape(doc) == [("FROM", 1), ("RUN", 2), ("CMD", 3), ("ENV", 4), ("USER", 5)]
    assert all(not i.heredocs for i in doc.instructions)


def test_unterminated_heredoc() -> None:
    """A heredoc without its terminator is an error on the instruction's line."""
    doc = _parse("FROM a:1\nRUN <<EOF\necho hi\n")
    assert [(d.code, d.line) for d in doc.diagnostics] == [(Code.UNTERMINATED_HEREDOC, 2)]


def test_escape_directive_backtick() -> None:
    """``# escape=`` makes the backtick the continuation character and the backslash literal."""
    text = "# escape=`\nFROM a:1\nRUN dir c:\\\nRUN echo a `\n  b\nWORKDIR C:\\app\n"
    doc = _parse(text)
    assert doc.escape == "`"
    assert _shape(doc) == [("FROM", 2), ("RUN", 3), ("RUN", 4), ("WORKDIR", 6)]
    assert doc.instructions[1].words == ("dir", "c:\\")
    assert doc.instructions[2].words == ("echo", "a", "b")


def test_directive_only_at_top() -> None:
    """A directive after a comment, blank line or instruction is just a comment."""
    for text in ("# hello\n# escape=`\nFROM a:1\n", "\n# escape=`\nFROM a:1\n"):
        doc = _parse(text)
        assert doc.escape == "\\" and doc.directives == {}


def test_syntax_directive_and_bad_directives() -> None:
    """``# syntax=`` is recorded; a bad escape value and a repeated directive are errors."""
    doc = _parse("# syntax=docker/dockerfile:1\n# escape=x\n# syntax=other\nFROM a:1\n")
    assert doc.directives == {"syntax": "docker/dockerfile:1"}
    assert [(d.code, d.line) for d in doc.diagnostics] == [
        (Code.BAD_DIRECTIVE, 2),
        (Code.BAD_DIRECTIVE, 3),
    ]


def test_exec_form_and_shell_form() -> None:
    """A JSON array of strings is exec form; anything else is shell form."""
    doc = _parse('FROM a:1\nCMD ["python", "-m", "x y"]\nCMD python -m x\nRUN [ -f /x ] && rm /x\n')
    assert doc.instructions[1].exec_form == ("python", "-m", "x y")
    assert doc.instructions[2].exec_form is None
    assert doc.instructions[2].words == ("python", "-m", "x")
    assert doc.instructions[3].exec_form is None
    assert doc.diagnostics == []


@pytest.mark.parametrize(
    "args",
    ['["echo", "hi"', "['echo', 'hi']", '["echo", 1]', '["echo"', '[["nested"]]'],
)
def test_bad_exec_form(args: str) -> None:
    """Broken exec form (unterminated, single quotes, non-strings) is a diagnostic."""
    doc = _parse(f"FROM a:1\nENTRYPOINT {args}\n")
    assert [(d.code, d.line) for d in doc.diagnostics] == [(Code.BAD_JSON_FORM, 2)]


def test_from_and_copy_flags() -> None:
    """Leading ``--flags`` are split off (quotes removed); the rest are the arguments."""
    doc = _parse(
        "FROM --platform=$BUILDPLATFORM a:1 AS build\n"
        'COPY --chown=1000:1000 --from=build --chmod="0644" src dst\n'
        "RUN --mount=type=secret,id=tok cat /run/secrets/tok\n"
    )
    from_, copy, run = doc.instructions
    assert from_.words == ("a:1", "AS", "build") and from_.flag("platform") == "$BUILDPLATFORM"
    assert copy.flag("chown") == "1000:1000" and copy.flag("from") == "build"
    assert copy.flag("chmod") == "0644" and copy.flag("link") is None
    assert copy.words == ("src", "dst")
    assert run.flag("mount") == "type=secret,id=tok"


def test_env_forms() -> None:
    """``ENV k=v k2="v 2"`` gives several pairs; legacy ``ENV k v w`` gives one."""
    doc = _parse('FROM a:1\nENV A=1 B="v 2" C=a\\ b\nENV D hello  world\n')
    assert doc.instructions[1].pairs == (("A", "1"), ("B", '"v 2"'), ("C", "a\\ b"))
    assert [expand(v or "", {}).value for _, v in doc.instructions[1].pairs] == ["1", "v 2", "a b"]
    assert doc.instructions[2].pairs == (("D", "hello  world"),)


@pytest.mark.parametrize("args", ["", "ONLYNAME", "A=1 B", "=x"])
def test_env_syntax_errors(args: str) -> None:
    """ENV without a value, mixed forms and blank names are syntax errors."""
    doc = _parse(f"FROM a:1\nENV {args}\n")
    assert [(d.code, d.line) for d in doc.diagnostics] == [(Code.SYNTAX_ERROR, 2)]


def test_label_quoted_keys_and_values() -> None:
    """LABEL keeps quoted keys/values (with spaces and '=') as one pair each."""
    doc = _parse('FROM a:1\nLABEL "org.opencontainers.image.title"="My = skill" x=\'y z\' e=\n')
    pairs = [(expand(k, {}).value, expand(v or "", {}).value) for k, v in doc.instructions[1].pairs]
    assert pairs == [("org.opencontainers.image.title", "My = skill"), ("x", "y z"), ("e", "")]


def test_arg_pairs() -> None:
    """ARG takes names with and without defaults."""
    doc = _parse("ARG A B=2 C=\nFROM a:1\n")
    assert doc.instructions[0].pairs == (("A", None), ("B", "2"), ("C", ""))


def test_unknown_instruction_and_missing_args() -> None:
    """An unknown instruction and an instruction without arguments are diagnostics."""
    doc = _parse("FROM a:1\nFROBNICATE x\nCOPY onlyone\nUSER\n")
    assert [(d.code, d.line) for d in doc.diagnostics] == [
        (Code.UNKNOWN_INSTRUCTION, 2),
        (Code.SYNTAX_ERROR, 3),
        (Code.SYNTAX_ERROR, 4),
    ]
    assert _shape(doc) == [("FROM", 1), ("COPY", 3), ("USER", 4)]


def test_bom_and_crlf() -> None:
    """A UTF-8 byte-order mark and CRLF line ends are handled."""
    doc = _parse("\ufeffFROM a:1\r\nRUN echo a \\\r\n  b\r\nUSER 1\r\n")
    assert _shape(doc) == [("FROM", 1), ("RUN", 2), ("USER", 4)]
    assert doc.instructions[1].words == ("echo", "a", "b")


@pytest.mark.parametrize(
    ("word", "env", "value", "unresolved"),
    [
        ("${BASE}", {"BASE": "x:1"}, "x:1", []),
        ("$BASE-suffix", {"BASE": "x"}, "x-suffix", []),
        ("${BASE:-nexflow/python:bookworm}", {}, "nexflow/python:bookworm", []),
        ("${BASE:-d}", {"BASE": ""}, "d", []),
        ("${BASE-d}", {"BASE": ""}, "", []),
        ("${BASE:+alt}", {"BASE": "x"}, "alt", []),
        ("${BASE}", {}, "", ["BASE"]),
        ("${A:?need A}", {}, "", ["A"]),
        ("'$NOPE'", {}, "$NOPE", []),
        ('"a \\"b\\" $X"', {"X": "c"}, 'a "b" c', []),
        ("${A:-${B:-deep}}", {}, "deep", []),
        ("a\\ b", {}, "a b", []),
        ("cost$", {}, "cost$", []),
    ],
)
def test_expand(word: str, env: dict[str, str], value: str, unresolved: list[str]) -> None:
    """Quote removal and ``$VAR``/``${VAR:-default}`` substitution follow Docker."""
    result = expand(word, env)
    assert (result.value, result.unresolved, result.error) == (value, unresolved, None)


@pytest.mark.parametrize("word", ['"open', "'open", "${A", "${A%%x}", "${}", "${" * 100])
def test_expand_errors(word: str) -> None:
    """Unterminated quotes, bad or too deeply nested substitutions are errors, not raises."""
    assert expand(word, {}).error is not None


def test_parse_words_keeps_quotes() -> None:
    """Words split on whitespace outside quotes and keep their quotes and escapes."""
    assert parse_words("a \"b c\" d\\ e 'f g'", "\\") == ["a", '"b c"', "d\\ e", "'f g'"]


@pytest.mark.parametrize(
    ("data", "code", "line"),
    [
        pytest.param(bytes(range(256)) * 4, Code.BINARY_FILE, 1, id="binary"),
        pytest.param("FROM a:1\nRUN é\n".encode("utf-16"), Code.BINARY_FILE, 1, id="utf16"),
        pytest.param(b"FROM a:1\nRUN echo \xff\xfe\n", Code.NOT_UTF8, 2, id="bad-utf8"),
        pytest.param(b"#" * (MAX_DOCKERFILE_BYTES + 1), Code.FILE_TOO_LARGE, 1, id="huge"),
    ],
)
def test_unreadable_content(tmp_path: Path, data: bytes, code: Code, line: int) -> None:
    """Binary, non-UTF-8 and oversized files give one diagnostic and no Dockerfile."""
    path = tmp_path / "Dockerfile"
    path.write_bytes(data)
    doc, diagnostics = read_dockerfile(path)
    assert doc is None
    assert [(d.code, d.line, d.file) for d in diagnostics] == [(code, line, path)]


def test_not_a_regular_file(tmp_path: Path) -> None:
    """A directory where the Dockerfile should be is reported, not opened."""
    doc, diagnostics = read_dockerfile(tmp_path)
    assert doc is None and [d.code for d in diagnostics] == [Code.UNREADABLE]


NASTY = [
    "",
    "\\",
    "\\\n\\\n",
    "FROM",
    "FROM \\",
    "RUN <<",
    "RUN <<EOF",
    "RUN <<'EOF",
    'COPY <<"" x',
    "# escape=`\n`",
    "# escape=\n",
    'ENV "a=b',
    "LABEL ''=''",
    "FROM ${" + "${" * 5000,
    "FROM $$$${}}}",
    "CMD [" + "[" * 10000,
    'CMD ["\\ud800"]',
    "RUN " + "\\\n" * 1000,
    "\x00\x01\x02\ufffe\U0010ffff",
    "FROM a:1 AS\nFROM AS AS AS AS",
    "ARG =\nARG ==\nFROM ${=}",
    "FROM scratch\nUSER ${A:?}\nLABEL ${B}=${C:+x}\n",
    "ONBUILD RUN <<EOF\nx\nEOF",
    "\r\r\r\n\r",
    "FROM a\nADD\nCOPY --\nRUN --\nRUN --mount",
    'HEALTHCHECK NONE\nSHELL []\nVOLUME ["/x"]\nEXPOSE',
]


@pytest.mark.parametrize("text", NASTY)
def test_nasty_text_never_raises(tmp_path: Path, text: str) -> None:
    """Hand-picked hostile inputs parse and lint without an exception."""
    from nexflow_control.images import lint_dockerfile

    diagnostics = lint_dockerfile(_parse(text))
    assert all(d.line >= 1 for d in diagnostics)


def test_random_text_never_raises() -> None:
    """Thousands of random Dockerfile-ish texts parse and lint without an exception."""
    from nexflow_control.images import lint_dockerfile

    rng = random.Random(20240601)
    alphabet = [*"FROMRUNENVARGUSERLABELADDCOPY <>-=:$\\`{}[]\"',#@\n\t\r/.0sk_", "\u00e9"]
    pieces = ["FROM ", "RUN ", "ENV ", "ARG ", "LABEL ", "USER ", "ADD ", "<<EOF", "\nEOF\n"]
    pieces += ["${", ":-", "}", "\\\n", '["', '", "', '"]', "# escape=`\n", "--chown=", "\n"]
    for _ in range(3000):
        parts = [
            rng.choice(pieces) if rng.random() < 0.5 else rng.choice(alphabet)
            for _ in range(rng.randint(0, 60))
        ]
        text = "".join(parts)
        diagnostics = lint_dockerfile(_parse(text))
        lines = text.count("\n") + 1
        assert all(1 <= d.line <= lines for d in diagnostics), text


def test_random_bytes_never_raise(tmp_path: Path) -> None:
    """Random bytes on disk give diagnostics, never an exception."""
    path = tmp_path / "Dockerfile"
    for size in (1, 7, 100, 4096):
        path.write_bytes(os.urandom(size))
        doc, diagnostics = read_dockerfile(path)
        assert doc is not None or diagnostics
