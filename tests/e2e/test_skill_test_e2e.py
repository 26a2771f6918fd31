"""`nexflow skill test DIR`: a skill's examples run in the real sandbox (a private
`nexflow-executor`, both backends), judged PASS/FAIL/SKIP, with exit 0/1/2."""

from __future__ import annotations

import http.server
import json
import os
import shutil
import subprocess
import textwrap
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.harness import BACKENDS, NEXFLOW, REPO

_SKILL = """\
---
name: {name}
description: A skill written by the test.
version: 1.0.0
author: tests
location: ./run.py
runtime: python
permissions: []
---

## Output schema

```json
{{"type": "object", "properties": {{"n": {{"type": "integer"}}}}, "required": ["n"]}}
```

## Examples

{examples}
"""


def _skill(root: Path, name: str, run: str, examples: str) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / "SKILL.md").write_text(_SKILL.format(name=name, examples=examples))
    (folder / "run.py").write_text(textwrap.dedent(run))
    return folder


def _run(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(NEXFLOW), "skill", "test", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=240,
        check=False,
    )


_DOUBLE = """\
import json, sys
value = json.load(sys.stdin)
if value.get("n", 0) < 0:
    print(json.dumps({"error": "negative", "message": "n < 0"}))
    sys.exit(1)
print(json.dumps({"n": value.get("n", 0) * 2}))
"""

_BROKEN = """\
import json, sys
json.load(sys.stdin)
print(json.dumps({"n": "not a number"}))
"""


@pytest.fixture(scope="module", params=BACKENDS)
def report(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[int, dict[str, Any], str]]:
    """One `--json` run over a folder of skills: echo as shipped, a doubling skill whose
    examples pass, fail and skip, and a skill whose output breaks its schema."""
    root = tmp_path_factory.mktemp(f"skills-{request.param}")
    shutil.copytree(REPO / "skills" / "echo", root / "echo")
    _skill(
        root,
        "double",
        _DOUBLE,
        "\n".join(
            [
                '- Input `{"n": 2}` → output `{"n": 4}`.',
                '- Input `{"n": 3}` → output `{"n": 7}` (wrong on purpose).',
                '- `{"n": 5}` → `{"n": …}`',
                '- `{"n": -1}` → fails with `{"error": "negative", ...}`',
                '- `{"n": -1}` → fails with `{"error": "overflow", ...}`',
                "- Call it twice and compare the results.",
                '- `{"n": 1}` → the double of the input.',
            ]
        ),
    )
    _skill(root, "broken", _BROKEN, '- `{"n": 1}` → `{"n": 2}`')
    done = _run(root, "--json", "--backend", request.param)
    document = json.loads(done.stdout) if done.stdout.strip() else {}
    yield done.returncode, document, done.stderr


def _by_line(document: dict[str, Any], skill: str) -> list[dict[str, Any]]:
    return sorted((e for e in document["examples"] if e["skill"] == skill), key=lambda e: e["line"])


def test_a_failing_example_makes_the_run_exit_1(report: tuple[int, dict[str, Any], str]) -> None:
    """Any FAIL: exit 1, and the counts add up to every bullet of every skill."""
    code, document, stderr = report
    assert code == 1, stderr
    assert "Traceback" not in stderr
    assert (document["passed"], document["failed"], document["skipped"]) == (6, 3, 2)


def test_echo_as_shipped_passes_every_example(report: tuple[int, dict[str, Any], str]) -> None:
    """The shipped echo skill's three examples run in the sandbox and match exactly."""
    echo = _by_line(report[1], "echo")
    assert [e["status"] for e in echo] == ["PASS"] * 3
    assert echo[0]["output"] == {"message": "hello"}
    assert echo[0]["backend"] in ("docker", "nsjail")


def test_outputs_are_compared_and_differences_fail(report: tuple[int, dict[str, Any], str]) -> None:
    """An equal output passes; a different one fails, naming both; an elided one is only
    schema-checked."""
    double = _by_line(report[1], "double")
    assert double[0]["status"] == "PASS" and double[0]["output"] == {"n": 4}
    assert double[1]["status"] == "FAIL"
    assert '{"n": 7}' in double[1]["reason"] and '{"n": 6}' in double[1]["reason"]
    assert double[2]["status"] == "PASS" and "elided" in double[2]["reason"]


def test_expected_errors_are_checked_by_code(report: tuple[int, dict[str, Any], str]) -> None:
    """`fails with {"error": X}` passes only when the run fails with that very code."""
    double = _by_line(report[1], "double")
    assert double[3]["status"] == "PASS" and "negative" in double[3]["reason"]
    assert double[4]["status"] == "FAIL" and "'overflow'" in double[4]["reason"]


def test_prose_examples_are_skipped_with_a_reason(report: tuple[int, dict[str, Any], str]) -> None:
    """A bullet without JSON input, or with prose as the result, is SKIP, never FAIL."""
    double = _by_line(report[1], "double")
    assert [e["status"] for e in double[5:]] == ["SKIP", "SKIP"]
    assert "no JSON object input" in double[5]["reason"]
    assert "prose" in double[6]["reason"]


def test_an_output_that_breaks_the_schema_fails(report: tuple[int, dict[str, Any], str]) -> None:
    """The run succeeded, but its output does not fit the output schema: FAIL, why given."""
    (broken,) = _by_line(report[1], "broken")
    assert broken["status"] == "FAIL"
    assert "breaks the output schema" in broken["reason"]
    assert "output.n" in broken["reason"]


@pytest.mark.nsjail
def test_text_output_and_exit_0_when_all_pass() -> None:
    """One line per example with its file:line, a summary, exit 0."""
    done = _run(REPO / "skills" / "echo", "--backend", "nsjail")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith("PASS ") and "echo/SKILL.md:" in lines[0]
    assert lines[-1] == "3 passed, 0 failed, 0 skipped"


def test_a_lint_error_exits_2_with_file_line_field(tmp_path: Path) -> None:
    """A SKILL.md the loader refuses runs nothing: its diagnostics, exit 2."""
    folder = _skill(tmp_path, "bad", _DOUBLE, '- `{"n": 1}` → `{"n": 2}`')
    md = folder / "SKILL.md"
    md.write_text(md.read_text().replace("runtime: python", "runtime: cobol"))
    done = _run(folder)
    assert done.returncode == 2
    assert done.stdout == ""
    assert f"{md}:7: runtime: unknown runtime 'cobol'" in done.stderr
    assert "[bad_runtime]" in done.stderr and "Traceback" not in done.stderr


@pytest.mark.nsjail
def test_a_missing_backend_is_one_line(tmp_path: Path) -> None:
    """No usable sandbox: one line saying why, exit 2, no traceback."""
    done = subprocess.run(
        [str(NEXFLOW), "skill", "test", str(REPO / "skills" / "echo"), "--backend", "nsjail"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        env={**os.environ, "NEXFLOW_EXECUTOR_NSJAIL__BINARY": str(tmp_path / "no-nsjail")},
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and "no usable sandbox backend" in done.stderr


class _Health(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = b"OK"
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.mark.parametrize("backend", BACKENDS)
def test_allow_host_lets_a_network_skill_reach_a_local_server(tmp_path: Path, backend: str) -> None:
    """http-health as shipped, with an example against a loopback server: it reaches the
    server only with `--allow-host` for that address (without, the elided example still
    fits the schema, but the output says the server was not reached)."""
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Health)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        port = server.server_address[1]
        folder = tmp_path / "http-health"
        shutil.copytree(REPO / "skills" / "http-health", folder)
        md = folder / "SKILL.md"
        example = (
            f'\n- `{{"url": "http://127.0.0.1:{port}/", "expect_text": "OK"}}` → '
            '`{"healthy": true, ...}`\n'
        )
        md.write_text(md.read_text().replace("## Examples\n", "## Examples\n" + example, 1))
        granted = _run(folder, "--json", "--backend", backend, "--allow-host", f"127.0.0.1:{port}")
        plain = _run(folder, "--json", "--backend", backend)
    finally:
        server.shutdown()
        server.server_close()
    mine = [e for e in json.loads(granted.stdout)["examples"] if str(port) in json.dumps(e)]
    assert mine[0]["status"] == "PASS", mine
    assert mine[0]["output"]["healthy"] is True and mine[0]["output"]["status"] == 200
    refused = [e for e in json.loads(plain.stdout)["examples"] if str(port) in json.dumps(e)]
    assert refused[0]["output"]["healthy"] is False, refused


@pytest.mark.nsjail
def test_the_workspace_is_the_one_given(tmp_path: Path) -> None:
    """file-read as shipped reads `notes.txt` from `--workspace`; without it, from an
    empty temp folder, the same example fails."""
    ws = tmp_path / "ws"
    ws.mkdir(mode=0o755)
    (ws / "notes.txt").write_text("hello world\n")
    ws.chmod(0o755)
    tmp_path.chmod(0o755)
    given = _run(REPO / "skills" / "file-read", "--json", "--backend", "nsjail", "--workspace", ws)
    fresh = _run(REPO / "skills" / "file-read", "--json", "--backend", "nsjail")
    first = json.loads(given.stdout)["examples"][0]
    assert first["input"] == {"path": "notes.txt"}
    assert first["status"] == "PASS" and first["output"]["content"] == "hello world\n"
    assert json.loads(fresh.stdout)["examples"][0]["status"] == "FAIL"
