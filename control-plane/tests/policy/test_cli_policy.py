"""`nexflow policy test|check|eval`: the gate, explanations, and one-line errors."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from nexflow_control.cli import app
from typer.testing import CliRunner

POLICIES = Path(__file__).resolve().parents[3] / "policies"
CASES = Path(__file__).resolve().parent / "conformance" / "cases"
NEXFLOW = Path(sys.executable).with_name("nexflow")


def _eval(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, ["policy", "eval", *args])
    return result.exit_code, result.stdout, result.stderr


def _input_file(tmp_path: Path, case: str) -> Path:
    target = tmp_path / "input.json"
    target.write_text(json.dumps(json.loads((CASES / f"{case}.json").read_text())["input"]))
    return target


def test_eval_explains_an_approval(tmp_path: Path) -> None:
    """eval prints the decision, each reason with the rule that emits it, and what fired."""
    code, out, _ = _eval("--input", str(_input_file(tmp_path, "admin-shell-needs-approval")))
    assert code == 0, out
    assert out.startswith("decision: approval required   (engine embedded, revision sha256:")
    assert "approval_required_shell: shell access needs approval" in out
    assert "from rule _approvals at nexflow/authz/approvals.rego:" in out
    assert "rules that fired (data.nexflow.authz):" in out
    assert "_approvals: [" in out


@pytest.mark.opa
def test_eval_with_opa_engine_gives_the_same_json(tmp_path: Path) -> None:
    """--engine opa (a private OPA server) explains the same decision as the embedded engine."""
    path = str(_input_file(tmp_path, "path-escapes-through-sibling"))
    code, embedded, _ = _eval("--input", path, "--json")
    code_opa, served, err = _eval("--input", path, "--json", "--engine", "opa")
    assert code == code_opa == 0, err
    mine, theirs = json.loads(embedded), json.loads(served)
    assert theirs["engine"] == "opa" and mine["engine"] == "embedded"
    del mine["engine"], theirs["engine"]
    assert mine == theirs
    assert [r["code"] for r in mine["decision"]["reasons"]] == ["path_outside_grant"]
    assert mine["reason_rules"]["path_outside_grant"][0]["rule"] == "_violations"


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            '{"principal": {"id": "a",}\n}',
            "input.json:1:26: invalid JSON: Expecting property name enclosed in double quotes",
        ),
        ('{\n  "a": 1\n  "b": 2\n}', "input.json:3:3: invalid JSON: Expecting ',' delimiter"),
        ("[1, 2]", "input.json: the input must be a JSON object, not an array"),
        ("null", "input.json: the input must be a JSON object, not null"),
        ('{"a": NaN}', "input.json: invalid JSON: NaN is not valid JSON"),
        ("", "input.json:1:1: invalid JSON: Expecting value"),
    ],
)
def test_eval_bad_input_file_is_one_line(tmp_path: Path, content: str, expected: str) -> None:
    """A bad input file gets exit 2 and one line naming the file (and line:column for JSON)."""
    path = tmp_path / "input.json"
    path.write_text(content)
    code, out, err = _eval("--input", str(path))
    assert code == 2
    assert err.strip().splitlines() == [f"error: {tmp_path}/{expected}"]
    assert "Traceback" not in out + err


def test_eval_usage_errors(tmp_path: Path) -> None:
    """A missing file, non-UTF-8 bytes, an unknown engine or policy dir: exit 2, one line."""
    binary = tmp_path / "bin.json"
    binary.write_bytes(b'{"a": "\xff"}')
    for args, needle in (
        (["--input", str(tmp_path / "absent.json")], "cannot read the input file"),
        (["--input", str(binary)], "not UTF-8 text (byte 7)"),
        (["--input", str(binary), "--engine", "wasm"], "'wasm' is not one of embedded, opa"),
        (["--input", str(_input_file(tmp_path, "null-input")), "--policy-dir", "/nope"], "/nope"),
    ):
        code, out, err = _eval(*args)
        assert code == 2 and needle in err and len(err.strip().splitlines()) == 1, (args, err)
        assert "Traceback" not in out + err


def test_eval_broken_policy_is_one_line(tmp_path: Path, policy_copy: Path) -> None:
    """A policy that does not compile: exit 1 and one error line."""
    (policy_copy / "nexflow/authz/decision.rego").write_text("package nexflow.authz\n\nx := {\n")
    path = str(_input_file(tmp_path, "viewer-runs-nothing"))
    code, out, err = _eval("--input", path, "--policy-dir", str(policy_copy))
    assert code == 1 and err.startswith("error: policy does not compile")
    assert "Traceback" not in out + err


def _nexflow(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(NEXFLOW), "policy", *args], capture_output=True, text=True, timeout=120, check=False
    )


@pytest.mark.opa
def test_check_and_test_pass_on_the_shipped_policies() -> None:
    """`nexflow policy check` and `nexflow policy test` pass on policies/."""
    check = _nexflow("check", "--policy-dir", str(POLICIES))
    assert check.returncode == 0, check.stdout + check.stderr
    assert "opa check --strict: ok" in check.stdout and "opa fmt --fail -l: ok" in check.stdout
    tests = _nexflow("test", "--policy-dir", str(POLICIES))
    assert tests.returncode == 0, tests.stdout + tests.stderr
    assert "PASS" in tests.stdout


@pytest.mark.opa
def test_check_fails_on_unformatted_policy(tmp_path: Path) -> None:
    """An unformatted file fails `check` (exit 1) and is named."""
    target = tmp_path / "policies"
    shutil.copytree(POLICIES, target)
    limits = target / "nexflow/authz/limits.rego"
    limits.write_text(limits.read_text().replace("\t", "    ", 1))
    check = _nexflow("check", "--policy-dir", str(target))
    assert check.returncode == 1
    assert str(limits) in check.stdout and "opa fmt --fail -l: failed" in check.stdout
    assert check.stderr.strip().splitlines()[-1] == "error: policy check failed: opa fmt --fail -l"


@pytest.mark.opa
def test_test_fails_on_a_failing_rego_test(tmp_path: Path) -> None:
    """A failing Rego test fails `nexflow policy test` with exit 1."""
    target = tmp_path / "policies"
    shutil.copytree(POLICIES, target)
    (target / "nexflow/authz/zz_test.rego").write_text(
        "package nexflow.authz_test\n\ntest_fails if {\n\t1 == 2\n}\n"
    )
    result = _nexflow("test", "--policy-dir", str(target))
    assert result.returncode == 1
    assert "FAIL" in result.stdout and "policy tests failed" in result.stderr
