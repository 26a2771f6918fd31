"""`nexflow policy test|check|eval`: the Rego gate and a decision explained.

Exit codes: 0 ok, 1 the check failed (tests, strict check, formatting, a policy that does
not load, an engine that fails), 2 usage (a bad input file, an unknown engine, a policy
directory that does not exist). Errors are one line; never a traceback.
"""

from __future__ import annotations

import asyncio
import json
import subprocess
from pathlib import Path
from typing import Annotated, Any

import typer

from ..policy import (
    EmbeddedEngine,
    LocalOpaServer,
    OpaServerEngine,
    PolicyError,
    encode_input,
    find_opa_binary,
    read_policy_dir,
)
from ..policy._explain import PACKAGE, Explanation, embedded_document, explain
from ..settings import REPO_ROOT
from ._client import fail

app = typer.Typer(help="Test, check and try the Rego policies.", no_args_is_help=True)

PolicyDirOpt = Annotated[
    Path,
    typer.Option("--policy-dir", envvar="NEXFLOW_POLICY_DIR", help="Policy directory"),
]
DEFAULT_POLICY_DIR = REPO_ROOT / "policies"
_EVAL_TIMEOUT_MS = 30_000  # one interactive evaluation may be large; it is no hot path


def _policy_dir(path: Path) -> Path:
    if not path.is_dir():
        fail(f"policy directory {path} does not exist", code=2)
    return path


def _opa(*args: str) -> int:
    """Run the opa binary with the terminal as its output; its exit status."""
    try:
        binary = find_opa_binary()
    except PolicyError as exc:
        fail(str(exc))
    return subprocess.run([str(binary), *args], check=False).returncode


@app.command("test")
def test_cmd(policy_dir: PolicyDirOpt = DEFAULT_POLICY_DIR) -> None:
    """Run the policy's Rego tests (`opa test -v`); exit 1 if any fails."""
    status = _opa("test", "-v", str(_policy_dir(policy_dir)))
    if status != 0:
        fail(f"policy tests failed (opa test exited {status})")


@app.command("check")
def check_cmd(policy_dir: PolicyDirOpt = DEFAULT_POLICY_DIR) -> None:
    """`opa check --strict` and `opa fmt --fail -l` (lists unformatted files); both must pass."""
    target = str(_policy_dir(policy_dir))
    failed = []
    for label, args in (
        ("opa check --strict", ("check", "--strict", target)),
        ("opa fmt --fail -l", ("fmt", "--fail", "-l", target)),
    ):
        status = _opa(*args)
        typer.echo(f"{label}: {'ok' if status == 0 else f'failed (exit {status})'}")
        if status != 0:
            failed.append(label)
    if failed:
        fail(f"policy check failed: {', '.join(failed)}")


def read_input_file(path: Path) -> dict[str, Any]:
    """The JSON object in ``path``; exits 2 with ``file[:line:col]: why`` when it is not one."""

    def no_constant(name: str) -> Any:
        raise ValueError(f"{name} is not valid JSON")

    try:
        text = path.read_bytes().decode("utf-8")
    except OSError as exc:
        fail(f"{path}: cannot read the input file ({exc.strerror or exc})", code=2)
    except UnicodeDecodeError as exc:
        fail(f"{path}: not UTF-8 text (byte {exc.start})", code=2)
    try:
        value = json.loads(text, parse_constant=no_constant)
    except json.JSONDecodeError as exc:
        fail(f"{path}:{exc.lineno}:{exc.colno}: invalid JSON: {exc.msg}", code=2)
    except (ValueError, RecursionError) as exc:
        fail(f"{path}: invalid JSON: {exc}", code=2)
    if not isinstance(value, dict):
        kind = {list: "an array", str: "a string", bool: "a boolean", type(None): "null"}
        got = kind.get(type(value), "a number")
        fail(f"{path}: the input must be a JSON object, not {got}", code=2)
    return value


async def _evaluate(policy_dir: Path, value: dict[str, Any], engine: str) -> Explanation:
    source = read_policy_dir(policy_dir)
    if engine == "embedded":
        embedded = EmbeddedEngine(policy_dir)
        decision = embedded.decide_sync(value)
        text = encode_input(value)
        document = embedded_document(source, text) if text is not None else None
        return explain(decision, "embedded", document, source)
    with LocalOpaServer() as server:
        opa = await OpaServerEngine.connect(
            server.url, policy_dir, timeout_ms=_EVAL_TIMEOUT_MS, token=server.token
        )
        try:
            decision = await opa.decide(value)
            document = await opa.document(value, PACKAGE) if encode_input(value) else None
        finally:
            await opa.close()
    return explain(decision, "opa", document, source)


def _short(value: Any, limit: int = 160) -> str:
    text = json.dumps(value, ensure_ascii=False, sort_keys=True)
    return text if len(text) <= limit else text[: limit - 1] + "…"


def render(explanation: Explanation) -> str:
    """The explanation as text for a terminal."""
    d = explanation.decision
    verdict = "allow" if d.allow else ("approval required" if d.require_approval else "deny")
    lines = [f"decision: {verdict}   (engine {explanation.engine}, revision {d.revision})"]
    lines.append("reasons:" if explanation.reasons else "reasons: none")
    for code, message, rules in explanation.reasons:
        lines.append(f"  {code}: {message}")
        for rule in rules:
            about = f" ({rule.description})" if rule.description else ""
            lines.append(f"      from rule {rule.name} at {rule.location}{about}")
    g = d.grants
    fs = ", ".join(f"{f.path} ({f.mode})" for f in g.filesystem) or "none"
    lines += ["grants:", f"  filesystem: {fs}", f"  network: {', '.join(g.network) or 'none'}"]
    if g.limits is not None:
        limits = explanation.to_dict()["decision"]["grants"]["limits"]
        lines.append("  limits: " + " ".join(f"{k}={v}" for k, v in limits.items()))
    lines.append(f"rules that fired (data.{PACKAGE}):" if explanation.fired else "rules: none")
    for name, value in explanation.fired.items():
        lines.append(f"  {name}: {_short(value)}")
    return "\n".join(lines)


@app.command("eval")
def eval_cmd(
    input_file: Annotated[
        Path, typer.Option("--input", "-i", help="JSON file with one policy input object")
    ],
    policy_dir: PolicyDirOpt = DEFAULT_POLICY_DIR,
    engine: Annotated[
        str, typer.Option("--engine", help="embedded (regopy) or opa (a private OPA server)")
    ] = "embedded",
    as_json: Annotated[bool, typer.Option("--json", help="One JSON document")] = False,
) -> None:
    """Decide one input and explain it: the reasons, the rules behind them, what fired."""
    if engine not in ("embedded", "opa"):
        fail(f"--engine: {engine!r} is not one of embedded, opa", code=2)
    _policy_dir(policy_dir)
    value = read_input_file(input_file)
    try:
        explanation = asyncio.run(_evaluate(policy_dir, value, engine))
    except PolicyError as exc:
        fail(str(exc))
    if as_json:
        typer.echo(json.dumps(explanation.to_dict(), indent=2, ensure_ascii=False))
    else:
        typer.echo(render(explanation))
