"""``lint_paths``/``lint_command`` on skill Dockerfiles: checks, lines, output, exit codes."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path

import pytest
from nexflow_control.images import (
    SEVERITY,
    Code,
    Diagnostic,
    Severity,
    is_secret_name,
    lint_command,
    lint_paths,
)

LABELS = (
    "LABEL io.nexflow.runtime=python \\\n"
    '      org.opencontainers.image.title="Demo skill" \\\n'
    "      org.opencontainers.image.source=https://example.com/demo \\\n"
    "      org.opencontainers.image.version=1.0.0 \\\n"
    '      org.opencontainers.image.description="Does demo things" \\\n'
    "      org.opencontainers.image.licenses=MIT\n"
)
GOOD = (
    "ARG BASE_IMAGE=nexflow/python:bookworm\n"
    "FROM ${BASE_IMAGE}\n"
    + LABELS
    + "RUN apt-get update && apt-get install -y --no-install-recommends jq"
    " && rm -rf /var/lib/apt/lists/*\n"
    "USER 1000:1000\n"
)
BASE = "FROM nexflow/python:bookworm\n" + LABELS  # lines 1-7


def _lint(tmp_path: Path, text: str) -> list[Diagnostic]:
    path = tmp_path / "Dockerfile"
    path.write_text(text, encoding="utf-8")
    return lint_paths([path])


def _codes(tmp_path: Path, body: str, user: str = "USER 1000\n") -> list[tuple[Code, int]]:
    """Codes and lines for the good base plus ``body`` (from line 8) and a USER line."""
    return [(d.code, d.line) for d in _lint(tmp_path, BASE + body + user)]


def test_good_dockerfile_is_clean(tmp_path: Path) -> None:
    """The model skill Dockerfile gives no diagnostic at all and exits 0."""
    (tmp_path / "Dockerfile").write_text(GOOD, encoding="utf-8")
    out = io.StringIO()
    assert lint_command([tmp_path], False, out) == 0
    assert out.getvalue() == "ok: 1 Dockerfile(s), 0 error(s), 0 warning(s)\n"


# -- USER ---------------------------------------------------------------------------------


def test_missing_user_is_error_on_from_line(tmp_path: Path) -> None:
    """A final stage without USER runs as root: ``non_root_user`` on its FROM line."""
    assert _codes(tmp_path, "", user="") == [(Code.NON_ROOT_USER, 1)]


@pytest.mark.parametrize("user", ["root", "0", "0:0", "root:root", "0:1000", "00", '"root"'])
def test_root_user_is_error(tmp_path: Path, user: str) -> None:
    """Every spelling of root as the last USER is an error on that USER line."""
    assert _codes(tmp_path, "", user=f"USER {user}\n") == [(Code.NON_ROOT_USER, 8)]


def test_named_user_is_warning(tmp_path: Path) -> None:
    """A non-root user name is only a warning: runAsNonRoot cannot verify names."""
    diagnostics = _lint(tmp_path, BASE + "USER app:app\n")
    assert [(d.code, d.line, d.severity) for d in diagnostics] == [
        (Code.USER_NOT_NUMERIC, 8, Severity.WARNING)
    ]


@pytest.mark.parametrize("user", ["1000", "1000:1000", "65532:0", "1"])
def test_numeric_user_is_clean(tmp_path: Path, user: str) -> None:
    """A numeric uid of 1 or more passes (group 0 is allowed)."""
    assert _codes(tmp_path, "", user=f"USER {user}\n") == []


def test_last_user_wins(tmp_path: Path) -> None:
    """Only the last USER counts: dropping back to root after a good USER is an error."""
    assert _codes(tmp_path, "USER 1000\nRUN id\n", user="USER root\n") == [(Code.NON_ROOT_USER, 10)]
    assert _codes(tmp_path, "USER root\nRUN apk info\n", user="USER 1000\n") == []


def test_user_from_build_stage_does_not_count(tmp_path: Path) -> None:
    """USER in an earlier, unrelated stage does not make the final stage non-root."""
    text = "FROM nexflow/python:bookworm AS build\nUSER 1000\n" + BASE
    assert [(d.code, d.line) for d in _lint(tmp_path, text)] == [(Code.NON_ROOT_USER, 3)]


def test_user_and_labels_inherited_from_parent_stage(tmp_path: Path) -> None:
    """A final stage built FROM an earlier stage inherits its USER and labels."""
    text = "FROM nexflow/python:bookworm AS base\n" + LABELS + "USER 1000\nFROM base\nRUN true\n"
    assert _lint(tmp_path, text) == []


def test_env_inherited_from_parent_stage(tmp_path: Path) -> None:
    """ENV set in a parent stage is seen when the final stage's USER is expanded."""
    text = "FROM nexflow/python:bookworm AS base\nENV APP_UID=1000\nFROM base\n" + LABELS
    assert _lint(tmp_path, text + "USER ${APP_UID}\n") == []


def test_user_through_arg(tmp_path: Path) -> None:
    """USER ${UID} resolves an ARG default; without a default it is an error."""
    assert _codes(tmp_path, "ARG UID=1000\n", user="USER ${UID}\n") == []
    assert _codes(tmp_path, "ARG UID\n", user="USER ${UID}\n") == [(Code.NON_ROOT_USER, 9)]


# -- ADD ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "source",
    [
        "https://example.com/tool.tar.gz",
        "HTTP://example.com/x",
        "git@github.com:org/repo.git",
        "https://github.com/org/repo.git#v1.0",
    ],
)
def test_add_from_url_is_error(tmp_path: Path, source: str) -> None:
    """ADD of a URL or git remote is ``add_from_url`` on the ADD line."""
    assert _codes(tmp_path, f"ADD {source} /opt/\n") == [(Code.ADD_FROM_URL, 8)]


def test_add_exec_form_url(tmp_path: Path) -> None:
    """ADD in exec (JSON) form is checked too, in any stage."""
    text = 'FROM nexflow/python:bookworm AS b\nADD ["https://x.io/a", "/a"]\n' + BASE + "USER 1\n"
    assert [(d.code, d.line) for d in _lint(tmp_path, text)] == [(Code.ADD_FROM_URL, 2)]


def test_local_add_warns_but_archive_does_not(tmp_path: Path) -> None:
    """ADD of a plain local file suggests COPY; ADD of a local tar (to unpack) is fine."""
    assert _codes(tmp_path, "ADD app.py /app/\n") == [(Code.ADD_INSTEAD_OF_COPY, 8)]
    assert _codes(tmp_path, "ADD --chown=1000 rootfs.tar.gz /\nCOPY app.py /app/\n") == []


# -- FROM ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("image", "expected"),
    [
        ("python", [(Code.UNPINNED_BASE, 1)]),
        ("python:latest", [(Code.UNPINNED_BASE, 1)]),
        ("nexflow/python", [(Code.UNPINNED_BASE, 1)]),
        ("nexflow/python:latest", [(Code.UNPINNED_BASE, 1)]),
        ("python:3.12-slim", [(Code.BASE_NOT_DIGEST_PINNED, 1)]),
        ("ghcr.io/org/img:1.2", [(Code.BASE_NOT_DIGEST_PINNED, 1)]),
        ("python:3.12@sha256:" + "a" * 64, []),
        ("python@sha256:" + "b" * 64, []),
        ("nexflow/python:bookworm", []),
        ("docker.io/nexflow/node:bookworm", []),
        ("localhost:5000/nexflow-base:1", [(Code.BASE_NOT_DIGEST_PINNED, 1)]),
        ("scratch", []),
        ("Python:3", [(Code.BAD_IMAGE_REFERENCE, 1)]),
        ("python:3@sha256:short", [(Code.BAD_IMAGE_REFERENCE, 1)]),
    ],
)
def test_base_pinning(tmp_path: Path, image: str, expected: list[tuple[Code, int]]) -> None:
    """Untagged/latest bases are errors, tag-only is a warning, digests and nexflow/ tags pass."""
    text = f"FROM {image}\n" + LABELS + "USER 1000\n"
    assert [(d.code, d.line) for d in _lint(tmp_path, text)] == expected


def test_from_earlier_stage_is_fine(tmp_path: Path) -> None:
    """FROM naming an earlier stage (any case) is not an unpinned image."""
    text = "FROM nexflow/python:bookworm AS Builder\nRUN make\nFROM builder\n" + LABELS
    assert [(d.code, d.line) for d in _lint(tmp_path, text + "USER 1\n")] == []


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        ("ARG BASE=nexflow/python:bookworm\nFROM ${BASE}\n", []),
        ("ARG TAG=bookworm\nFROM nexflow/python:$TAG\n", []),
        ("ARG R=nexflow\nARG BASE=${R}/python:bookworm\nFROM ${BASE}\n", []),
        ("ARG BASE\nFROM ${BASE:-nexflow/python:bookworm}\n", []),
        ("ARG BASE\nFROM ${BASE}\n", [(Code.UNRESOLVED_BASE, 2)]),
        ("FROM ${UNDECLARED}\n", [(Code.UNRESOLVED_BASE, 1)]),
        ("ARG BASE=python\nFROM $BASE\n", [(Code.UNPINNED_BASE, 2)]),
    ],
)
def test_from_arg_substitution(tmp_path: Path, head: str, expected: list[tuple[Code, int]]) -> None:
    """FROM resolves global ARG defaults; an ARG without a default is ``unresolved_base``."""
    text = head + LABELS + "USER 1000\n"
    assert [(d.code, d.line) for d in _lint(tmp_path, text)] == expected


# -- secrets ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "name", ["GITHUB_TOKEN", "AWS_SECRET_ACCESS_KEY", "DB_PASSWORD", "apiKey", "NPM_AUTH", "PASSWD"]
)
def test_secret_names(name: str) -> None:
    """Names whose word parts are secret words are secrets."""
    assert is_secret_name(name)


@pytest.mark.parametrize(
    "name",
    [
        "TOKENIZER_MODEL",
        "AUTHOR",
        "KEYBOARD",
        "PASSTHROUGH",
        "MONKEY",
        "SECRETARY_NAME",
        "DB_PASSWORD_FILE",
        "GOOGLE_CREDENTIALS_PATH",
    ],
)
def test_not_secret_names(name: str) -> None:
    """Secret words inside longer words, and names of files holding secrets, do not count."""
    assert not is_secret_name(name)


def test_secret_env_and_arg_values(tmp_path: Path) -> None:
    """ENV/ARG with a secret name and a value are errors; empty or default-less ones are not."""
    body = (
        "ENV GITHUB_TOKEN=abc123 TOKENIZER_MODEL=bert\n"  # 8
        "ENV DB_PASSWORD hunter2\n"  # 9
        'ENV API_TOKEN=""\n'  # 10
        "ARG AWS_SECRET_ACCESS_KEY=xyz\n"  # 11
        "ARG NPM_TOKEN\n"  # 12
        "ENV NPM_TOKEN=${NPM_TOKEN}\n"  # 13
    )
    assert _codes(tmp_path, body) == [
        (Code.SECRET_IN_ENV, 8),
        (Code.SECRET_IN_ENV, 9),
        (Code.SECRET_IN_ARG, 11),
        (Code.SECRET_BUILD_ARG, 12),
        (Code.SECRET_IN_ENV, 13),
    ]


def test_secret_arg_before_from(tmp_path: Path) -> None:
    """ARGs before the first FROM are checked too."""
    text = "ARG GH_TOKEN=x\n" + BASE + "USER 1\n"
    assert [(d.code, d.line) for d in _lint(tmp_path, text)] == [(Code.SECRET_IN_ARG, 1)]


AWS = "AKIA" + "ABCDEFGHIJKLMNOP"
GHP = "ghp_" + "a1B2c3D4e5F6g7H8i9J0k1L2m3N4o5P6q7R8"
PAT = "github_pat_" + "11ABCDEFG0abcdefghijkl_mnopqrstuvwxyz0123456789"
SLACK = "xoxb-" + "1234567890-abcdefghij"
OPENAI = "sk-" + "Abcdefghijklmnopqrstuvwx1234"
PEM = "-----BEGIN RSA " + "PRIVATE KEY-----"


@pytest.mark.parametrize("value", [AWS, GHP, PAT, SLACK, OPENAI, PEM])
def test_credential_formats_anywhere(tmp_path: Path, value: str) -> None:
    """Well-known credential formats are caught in ENV, ARG, LABEL and RUN, whatever the name."""
    body = (
        f'ENV HARMLESS="{value}"\n'
        f'ARG ALSO_HARMLESS="{value}"\n'
        f'LABEL com.example.note="{value}"\n'
        f'RUN echo "{value}" > /etc/conf\n'
    )
    assert _codes(tmp_path, body) == [
        (Code.SECRET_IN_ENV, 8),
        (Code.SECRET_IN_ARG, 9),
        (Code.SECRET_IN_LABEL, 10),
        (Code.SECRET_IN_INSTRUCTION, 11),
    ]


def test_credential_in_heredoc(tmp_path: Path) -> None:
    """A private key written through a COPY heredoc is caught on the COPY line."""
    body = f"COPY <<EOF /home/app/.ssh/id_rsa\n{PEM}\nMIIE\nEOF\n"
    assert _codes(tmp_path, body) == [(Code.SECRET_IN_INSTRUCTION, 8)]


def test_secret_values_never_printed(tmp_path: Path) -> None:
    """Neither text nor JSON output contains a secret value, only names and hints."""
    secrets = ["hunter2-very-secret", "s3cr3t-db-pass", AWS, GHP, PAT, SLACK, OPENAI, "MIIEsecret"]
    body = (
        f"ENV DB_PASSWORD={secrets[0]} HARMLESS={AWS}\n"
        f"ENV MYSQL_ROOT_PASSWORD {secrets[1]}\n"
        f"ARG GH_TOKEN={GHP}\n"
        f"LABEL {PAT}=x note={SLACK}\n"
        f"RUN curl -H 'Authorization: Bearer {OPENAI}' https://api.example.com\n"
        f"COPY <<EOF /k\n{PEM}\n{secrets[7]}\nEOF\n"
        f"ENV {GHP}=1\n"
        f"{GHP} is not an instruction\n"
    )
    path = tmp_path / "Dockerfile"
    path.write_text(BASE + body + "USER 1000\n", encoding="utf-8")
    for as_json in (False, True):
        out = io.StringIO()
        assert lint_command([path], as_json, out) == 1
        printed = out.getvalue()
        assert "DB_PASSWORD" in printed and "secret_in_label" in printed
        assert "unknown_instruction" in printed and "<redacted>" in printed
        for secret in secrets:
            assert secret not in printed


# -- labels -------------------------------------------------------------------------------


def test_missing_labels(tmp_path: Path) -> None:
    """Required labels missing are errors, recommended ones warnings, all on the FROM line."""
    text = "FROM nexflow/python:bookworm\nLABEL org.opencontainers.image.title=t\nUSER 1\n"
    got = [(d.field, d.code, d.line, d.severity) for d in _lint(tmp_path, text)]
    oci = "LABEL.org.opencontainers.image."
    assert got == [
        ("LABEL.io.nexflow.runtime", Code.MISSING_LABEL, 1, Severity.ERROR),
        (f"{oci}source", Code.MISSING_LABEL, 1, Severity.ERROR),
        (f"{oci}version", Code.MISSING_LABEL, 1, Severity.ERROR),
        (f"{oci}description", Code.MISSING_RECOMMENDED_LABEL, 1, Severity.WARNING),
        (f"{oci}licenses", Code.MISSING_RECOMMENDED_LABEL, 1, Severity.WARNING),
    ]


@pytest.mark.parametrize("runtime", ["ruby", "Python", "python3"])
def test_bad_runtime_label(tmp_path: Path, runtime: str) -> None:
    """io.nexflow.runtime must be exactly bash, node or python."""
    text = BASE + f"LABEL io.nexflow.runtime={runtime}\nUSER 1\n"
    assert [(d.code, d.line) for d in _lint(tmp_path, text)] == [(Code.BAD_RUNTIME_LABEL, 8)]


def test_label_values_through_args_and_empty(tmp_path: Path) -> None:
    """Labels from ARG defaults or build args count; an empty required label does not."""
    assert _codes(tmp_path, "ARG RT=node\nARG V\nLABEL io.nexflow.runtime=$RT version=$V\n") == []
    assert _codes(tmp_path, 'LABEL org.opencontainers.image.version=""\n') == [
        (Code.MISSING_LABEL, 8)
    ]


# -- RUN and the rest ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("run", "expected"),
    [
        ("apt-get update && apt-get install -y jq && rm -rf /var/lib/apt/lists/*", "recommends"),
        ("apt-get update && apt-get install -y --no-install-recommends jq", "lists"),
        ("--mount=type=cache,target=/var/lib/apt apt-get update", ""),
        (
            "DEBIAN_FRONTEND=noninteractive apt-get -y install --no-install-recommends x \\\n"
            " && rm -rf /var/lib/apt/lists/*",
            "",
        ),
        ("curl -fsSL https://x.sh | sh", "pipe"),
        ("wget -qO- https://x.sh | sudo -E bash -s -- --yes", "pipe sudo"),
        ('bash -c "$(curl -fsSL https://x.sh)"', "pipe"),
        ("curl -fsSLo i.sh https://x.sh && sha256sum -c i.sum && sh i.sh", ""),
        ("curl -fsSL https://x/y.tgz | tar xz", ""),
        ("curl -fsSL https://x/f | sha256sum", ""),
        ("sudo make install", "sudo"),
        ("echo sudo is a word", ""),
        ("chmod u+s /usr/bin/tool", "setuid"),
        ("chmod -R 4755 /opt/bin", "setuid"),
        ("chmod +s /x", "setuid"),
        ("chmod g+s,o-w /srv/shared", "setuid"),
        ("chmod 2755 /x", "setuid"),
        ("install -m 4755 tool /usr/local/bin/", "setuid"),
        ("chmod 755 /x && chmod 0644 /y && chmod 1777 /tmp && chmod a-s /z && chmod u+x /w", ""),
    ],
)
def test_run_checks(tmp_path: Path, run: str, expected: str) -> None:
    """RUN checks flag their pattern and stay quiet on the safe spelling of it."""
    names = {
        "recommends": Code.APT_INSTALL_RECOMMENDS,
        "lists": Code.APT_LISTS_NOT_CLEANED,
        "pipe": Code.PIPE_TO_SHELL,
        "sudo": Code.SUDO_IN_RUN,
        "setuid": Code.SETUID_BIT,
    }
    got = {code for code, line in _codes(tmp_path, f"RUN {run}\n") if line == 8}
    assert got == {names[word] for word in expected.split()}


def test_setuid_is_error_and_copy_chmod(tmp_path: Path) -> None:
    """``setuid_bit`` is an error, and COPY --chmod=4755 triggers it too."""
    body = "COPY --chmod=4755 tool /bin/\nCOPY --chmod=755 a /a\nADD --chmod=u+s x.tar /\n"
    diagnostics = _lint(tmp_path, BASE + body + "USER 1\n")
    assert [(d.code, d.line, d.is_error) for d in diagnostics] == [
        (Code.SETUID_BIT, 8, True),
        (Code.SETUID_BIT, 10, True),
    ]


def test_expose_warns(tmp_path: Path) -> None:
    """EXPOSE in the final stage is a warning: skills have no inbound network."""
    assert _codes(tmp_path, "EXPOSE 8080\n") == [(Code.EXPOSE_PORT, 8)]


@pytest.mark.parametrize("text", ["", "\n\n", "# just a comment\n", "ARG A=1\n"])
def test_no_from(tmp_path: Path, text: str) -> None:
    """An empty file, comments or ARGs only are ``no_from`` on line 1."""
    assert [(d.code, d.line) for d in _lint(tmp_path, text)] == [(Code.NO_FROM, 1)]


def test_instruction_before_from(tmp_path: Path) -> None:
    """Anything but ARG before the first FROM is an error on its line."""
    text = "ARG X=1\nRUN echo hi\n" + BASE + "USER 1\n"
    assert [(d.code, d.line) for d in _lint(tmp_path, text)] == [(Code.INSTRUCTION_BEFORE_FROM, 2)]


def test_lines_across_continuations_and_heredocs(tmp_path: Path) -> None:
    """Diagnostics name the right line after continuations, comments and heredocs."""
    body = (
        "RUN echo a \\\n"  # 8
        "  # comment inside\n"
        "  && echo b\n"
        "RUN <<EOF\n"  # 11
        "USER 1000\n"
        "EXPOSE 1\n"
        "EOF\n"
        "ADD https://x.io/f /f\n"  # 15
    )
    assert _codes(tmp_path, body, user="USER root\n") == [
        (Code.ADD_FROM_URL, 15),
        (Code.NON_ROOT_USER, 16),
    ]


def test_escape_directive_lint(tmp_path: Path) -> None:
    """With ``# escape=`` the backtick continues lines and line numbers stay right."""
    text = "# escape=`\n" + BASE.replace("\\\n", "`\n") + "RUN dir c:\\\nUSER root\n"
    assert [(d.code, d.line) for d in _lint(tmp_path, text)] == [(Code.NON_ROOT_USER, 10)]


# -- paths, output and exit codes ---------------------------------------------------------


def test_exit_codes(tmp_path: Path) -> None:
    """0 with warnings only, 1 with an error, 2 for a missing path or a folder without one."""
    (tmp_path / "warn").mkdir()
    (tmp_path / "warn" / "Dockerfile").write_text(GOOD + "EXPOSE 80\n", encoding="utf-8")
    (tmp_path / "bad").mkdir()
    (tmp_path / "bad" / "Dockerfile").write_text(GOOD + "USER 0\n", encoding="utf-8")
    (tmp_path / "empty").mkdir()
    assert lint_command([tmp_path / "warn"], False, io.StringIO()) == 0
    assert lint_command([tmp_path / "bad" / "Dockerfile"], False, io.StringIO()) == 1
    assert lint_command([tmp_path / "nope"], False, io.StringIO()) == 2
    assert lint_command([tmp_path / "empty"], False, io.StringIO()) == 2
    assert lint_command([tmp_path / "bad", tmp_path / "nope"], False, io.StringIO()) == 2


def test_unreadable_dockerfile_exits_two(tmp_path: Path) -> None:
    """A Dockerfile that cannot be read as a file (here a folder) exits 2."""
    (tmp_path / "Dockerfile").mkdir()
    out = io.StringIO()
    assert lint_command([tmp_path], False, out) == 2
    assert "[unreadable]" in out.getvalue()


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"\x7fELF\x02\x01\x01\x00\x00\x00", Code.BINARY_FILE),
        (b"FROM a:1\n\xc3(\n", Code.NOT_UTF8),
        (b"# " + b"x" * (1024 * 1024), Code.FILE_TOO_LARGE),
    ],
)
def test_bad_files_exit_one(tmp_path: Path, data: bytes, code: Code) -> None:
    """Binary, invalid UTF-8 and huge files are error diagnostics (exit 1), not tracebacks."""
    (tmp_path / "Dockerfile").write_bytes(data)
    out = io.StringIO()
    assert lint_command([tmp_path], True, out) == 1
    assert [d["code"] for d in json.loads(out.getvalue())["diagnostics"]] == [code.value]


def test_containerfile_fallback(tmp_path: Path) -> None:
    """A folder without Dockerfile but with a Containerfile lints the Containerfile."""
    (tmp_path / "Containerfile").write_text(GOOD, encoding="utf-8")
    out = io.StringIO()
    assert lint_command([tmp_path], True, out) == 0
    assert json.loads(out.getvalue())["dockerfiles"] == [str(tmp_path / "Containerfile")]


def test_text_output_line_format(tmp_path: Path) -> None:
    """Text output is ``file:line: field: [warning: ]message [code]`` then a summary."""
    path = tmp_path / "Dockerfile"
    path.write_text(GOOD.replace("USER 1000:1000", "USER app") + "USER root\n", encoding="utf-8")
    out = io.StringIO()
    assert lint_command([path], False, out) == 1
    lines = out.getvalue().splitlines()
    assert lines[0].startswith(f"{path}:11: USER: the last USER is root")
    assert lines[0].endswith("[non_root_user]")
    assert lines[-1] == "invalid: 1 Dockerfile(s), 1 error(s), 0 warning(s)"


def test_json_document(tmp_path: Path) -> None:
    """``as_json`` prints one document with counts and every diagnostic's fields."""
    (tmp_path / "Dockerfile").write_text(GOOD + "EXPOSE 80\nUSER app\n", encoding="utf-8")
    out = io.StringIO()
    assert lint_command([tmp_path, tmp_path / "gone"], True, out) == 2
    doc = json.loads(out.getvalue())
    assert set(doc) == {"valid", "dockerfiles", "errors", "warnings", "diagnostics"}
    assert doc["valid"] is False and doc["errors"] == 1 and doc["warnings"] == 2
    assert doc["dockerfiles"] == [str(tmp_path / "Dockerfile")]
    assert doc["diagnostics"][0] == {
        "file": str(tmp_path / "Dockerfile"),
        "line": 11,
        "field": "EXPOSE",
        "code": "expose_port",
        "message": "EXPOSE has no use: skills get no inbound network",
        "severity": "warning",
    }
    assert [d["code"] for d in doc["diagnostics"]] == [
        "expose_port",
        "user_not_numeric",
        "path_missing",
    ]


def test_codes_are_stable_snake_case_with_fixed_severity() -> None:
    """Every code is unique snake_case and has one severity."""
    values = [code.value for code in Code]
    assert len(values) == len(set(values))
    assert all(re.fullmatch(r"[a-z][a-z0-9_]*", value) for value in values)
    assert set(SEVERITY) == set(Code)
    assert SEVERITY[Code.NON_ROOT_USER] is Severity.ERROR
    assert SEVERITY[Code.USER_NOT_NUMERIC] is Severity.WARNING
