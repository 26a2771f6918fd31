"""`nexflow skill test DIR`: run a skill's examples in the real sandbox, before publishing.

DIR (one skill folder, or a folder of them) is loaded with the real loader: an error is
printed as `file:line: field: message [code]` and nothing runs (exit 2). The examples are
read from each SKILL.md's `## Examples` list (`skills.read_examples`). A private
`nexflow-executor` process is started, as `nexflow up` starts it (its own socket and state
in a temporary home, tied to this process), and each runnable example goes to it over
gRPC as a call would (`calls.execution_spec`, `GrpcExecutor`): the input checked against
the input schema, the skill's declared filesystem requests granted against the
workspace, the hosts of `--allow-host` as the network grant, the default policy's limits
with the skill's own asks (`timeoutSec`, `maxOutputKb`). No policy, approval, audit or
secret store is involved: that is `nexflow skill call` against `nexflow up`.

Exit: 0 when every runnable example passed, 1 when any failed, 2 on a usage or lint
error or when no sandbox backend can run (one line, never a traceback).
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import sys
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

from nexflow_common.parent import parent_env

from ..calls import execution_spec, new_call_id
from ..calls.inputs import validate_input
from ..diagnostics import Diagnostic, has_errors
from ..errors import NexflowError
from ..executors import GrpcExecutor
from ..policy import FilesystemGrant, Grants, Limits, PolicyLoadError, read_policy_dir
from ..settings import ALLOW_HOST, Settings
from ..skills import (
    Example,
    Permission,
    Skill,
    load_skill,
    read_examples,
    skill_dirs,
)
from ._local_executor import executor_binary, stop_process, wait_for_executor
from ._skill_verdicts import Verdict, judge, report


class TestAborted(Exception):
    """Nothing can run: a one-line reason for the user, exit 2."""


@dataclass
class Options:
    workspace: Path | None
    allow_hosts: list[str]
    backend: str
    settings: Settings = field(default_factory=Settings)
    policy_limits: dict[str, Any] = field(default_factory=dict)


def load_skills(target: Path) -> tuple[list[Skill], list[Diagnostic]]:
    """Every skill under `target` (a skill folder or a folder of them), and every
    diagnostic; a skill with an error is left out (its diagnostics say why)."""
    skills: list[Skill] = []
    diagnostics: list[Diagnostic] = []
    for folder in skill_dirs(target):
        result = load_skill(folder)
        diagnostics.extend(result.diagnostics)
        if result.skill is not None:
            skills.append(result.skill)
    return skills, diagnostics


def default_limits(settings: Settings) -> dict[str, Any]:
    """The default policy's limits (`limits.defaults` of policies/data.json)."""
    try:
        data = read_policy_dir(settings.policy_dir).data
        return dict(data["nexflow"]["config"]["limits"]["defaults"])
    except (PolicyLoadError, KeyError, TypeError):
        return {}  # 0 = the executor's defaults, the same numbers


def _policy_limits(policy_limits: dict[str, Any], skill: Skill) -> Limits:
    """The default policy's limits with the skill's own asks, as the policy grants them."""
    defaults = dict(policy_limits)
    defaults["wall_time_ms"] = skill.timeout_sec * 1000
    defaults["output_bytes"] = skill.max_output_kb * 1024
    names = ("wall_time_ms", "cpu_time_ms", "memory_bytes", "pids", "output_bytes")
    return Limits(**{name: int(defaults.get(name, 0)) for name in names})


def _grants(opts: Options, skill: Skill, workspace: Path) -> Grants:
    """What the policy would grant if it granted everything the skill asks for: its
    filesystem requests, with `--allow-host` as the network allowlist (the grant)."""
    fs = tuple(FilesystemGrant(str(f.resolve(workspace)), f.mode) for f in skill.filesystem)
    return Grants(
        filesystem=fs,
        network=tuple(opts.allow_hosts),
        limits=_policy_limits(opts.policy_limits, skill),
    )


class Runner:
    """One private executor, and the examples run on it one after the other."""

    def __init__(self, opts: Options, home: Path) -> None:
        self.opts = opts
        self.home = home
        self.socket = home / "run" / "executor.sock"
        self.log_file = home / "executor.log"
        self.proc: asyncio.subprocess.Process | None = None
        self.client: GrpcExecutor | None = None

    async def start(self, log: BinaryIO) -> None:
        cmd = [executor_binary(), "--socket", str(self.socket)]
        cmd += ["--state-dir", str(self.home / "executor-state"), "--backend", self.opts.backend]
        try:
            self.proc = await asyncio.create_subprocess_exec(
                *cmd,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=log,
                stderr=log,
                env={**os.environ, **parent_env()},  # it ends with us (die_with_parent)
            )
        except OSError as exc:
            raise TestAborted(f"cannot start nexflow-executor: {exc.strerror}") from None
        try:
            await wait_for_executor(self.proc, self.socket)
        except SystemExit as exc:
            raise TestAborted(self._refusal() or str(exc.code)) from None
        self.client = GrpcExecutor(f"unix://{self.socket}", connect_timeout_s=5)
        state = await self.client.state()
        backend = self.opts.backend
        if not state.available or (backend != "auto" and backend not in state.available):
            why = state.unavailable.get(backend) or "; ".join(
                f"{k}: {v}" for k, v in state.unavailable.items()
            )
            raise TestAborted(f"no sandbox backend can run here ({why or 'none available'})")

    def _refusal(self) -> str | None:
        """The executor's own reason for refusing to start (its `executor.refused` line)."""
        try:
            lines = self.log_file.read_text(errors="replace").splitlines()
        except OSError:
            return None
        for line in reversed(lines):
            try:
                entry = json.loads(line)
            except ValueError:
                continue
            if isinstance(entry, dict) and entry.get("reason"):
                return f"the executor refused to start: {entry['reason']}"
        return None

    async def stop(self) -> None:
        if self.client is not None:
            await self.client.close()
        if self.proc is not None:
            await stop_process(self.proc)

    async def run(self, skill: Skill, example: Example, workspace: Path) -> Verdict:
        file = str(skill.skill_md)
        verdict = Verdict(skill.name, file, example.line, "SKIP", example.reason, example.input)
        if example.expect == "skip":
            return verdict
        if not skill.executable:
            verdict.reason = "an instruction-only skill (no `location`): nothing to run"
            return verdict
        if skill.secrets:
            verdict.reason = (
                f"needs secrets ({', '.join(skill.secrets)}): try it against `nexflow up`"
            )
            return verdict
        verdict.status = "FAIL"
        settings = self.opts.settings
        try:
            stdin = validate_input(
                f"{skill.name}@{skill.digest}",
                skill.input_schema,
                example.input,
                max_bytes=settings.limits.max_input_bytes,
            )
        except NexflowError as exc:
            verdict.reason = f"the input does not fit the input schema: {exc.message}"
            return verdict
        spec = execution_spec(
            workspace, new_call_id(), skill, stdin, _grants(self.opts, skill, workspace)
        )
        assert self.client is not None
        try:
            outcome = await self.client.execute(
                spec, output_cap=settings.limits.result_output_bytes
            )
        except NexflowError as exc:
            verdict.reason = f"not run: {exc.message}"
            return verdict
        hint = ""
        if Permission.NETWORK in skill.permissions and not self.opts.allow_hosts:
            hint = " (no --allow-host was given: the sandbox reached no network)"
        passed, verdict.reason, verdict.output = judge(skill, example, outcome, hint)
        verdict.status = "PASS" if passed else "FAIL"
        verdict.duration_ms = outcome.usage.wall_time_ms
        verdict.backend = outcome.backend
        return verdict


def _fresh_workspace(home: Path) -> Path:
    """An empty workspace the sandbox's unprivileged uid may write (as `nexflow up` does
    for its own)."""
    ws = home / "workspace"
    ws.mkdir()
    if os.geteuid() == 0:
        uid = int(os.environ.get("NEXFLOW_EXECUTOR_SANDBOX_UID", "65534"))
        gid = int(os.environ.get("NEXFLOW_EXECUTOR_SANDBOX_GID", str(uid)))
        os.chown(ws, uid, gid)
    ws.chmod(0o755)
    return ws


async def run_examples(
    plan: list[tuple[Skill, Example]], runner: Runner, workspace: Path, log: BinaryIO
) -> list[Verdict]:
    """Every example of the plan, run on one private executor (started only when some
    example is runnable)."""
    try:
        if any(example.expect != "skip" for _, example in plan):
            await runner.start(log)
        return [await runner.run(skill, example, workspace) for skill, example in plan]
    finally:
        await runner.stop()


def run_command(
    path: Path, workspace: Path | None, allow_hosts: list[str], backend: str, as_json: bool
) -> int:
    """`nexflow skill test`: the exit status (see the module docstring)."""
    bad = [h for h in allow_hosts if not ALLOW_HOST.match(h)]
    if bad:
        forms = "HOST, HOST:PORT, HOST:*, *.DOMAIN[:PORT] or [V6]:PORT"
        print(f"--allow-host: {bad[0]!r} is not {forms}", file=sys.stderr)
        return 2
    skills, diagnostics = load_skills(path)
    for diagnostic in diagnostics:
        print(diagnostic.format(), file=sys.stderr)
    if not skills and not diagnostics:
        print(f"{path}: no SKILL.md found here", file=sys.stderr)
        return 2
    if has_errors(diagnostics):
        return 2
    opts = Options(workspace, [h.lower() for h in allow_hosts], backend)
    opts.policy_limits = default_limits(opts.settings)
    plan = [(skill, example) for skill in skills for example in read_examples(skill.skill_md)]
    home = Path(tempfile.mkdtemp(prefix="nexflow-skill-test-"))
    try:
        home.chmod(0o755)  # the sandbox's uid walks through it to a fresh workspace
        (home / "run").mkdir(mode=0o700)
        chosen = (workspace or _fresh_workspace(home)).resolve()
        runner = Runner(opts, home)
        with open(runner.log_file, "wb") as log:
            verdicts = asyncio.run(run_examples(plan, runner, chosen, log))
    except TestAborted as exc:
        print(f"nexflow skill test: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except Exception as exc:  # a bug of ours, or the machine: one line, never a traceback
        print(f"nexflow skill test: {type(exc).__name__}: {exc}", file=sys.stderr)
        return 2
    finally:
        shutil.rmtree(home, ignore_errors=True)
    return report(verdicts, as_json, sys.stdout)
