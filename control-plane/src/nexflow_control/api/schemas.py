"""The typed edge of the skills, calls, audit, approvals and system routes: what
`/api/openapi.json` promises, with examples. Answers allow more fields than listed (a
newer server may add some); requests forbid unknown ones."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from ..approvals.service import MAX_COMMENT


def _example(example: dict[str, Any], *, request: bool = False) -> ConfigDict:
    return ConfigDict(
        extra="forbid" if request else "allow", json_schema_extra={"examples": [example]}
    )


class Answer(BaseModel):
    model_config = ConfigDict(extra="allow")


class RunRequest(BaseModel):
    """The skill's input, checked against its input schema; `wait: false` answers 202
    once the call is dispatched instead of holding the request until it ends."""

    model_config = _example({"input": {"message": "hello"}, "wait": True}, request=True)
    input: dict[str, Any] = Field(default_factory=dict)
    wait: bool = True


class Reason(Answer):
    code: str
    message: str


class CallResultOut(Answer):
    model_config = _example(
        {
            "call_id": "c_0196a1b2c3d4e5f6a7b8c9",
            "skill": "echo",
            "status": "succeeded",
            "exit_code": 0,
            "output": {"message": "hello"},
            "stdout": '{"message":"hello"}\n',
            "stderr": "",
            "duration_ms": 84,
            "kill_reason": "none",
            "truncated": False,
            "backend": "nsjail",
            "audit_complete": True,
        }
    )
    call_id: str
    skill: str
    status: Literal["succeeded", "failed", "killed"]
    exit_code: int
    output: Any = Field(description="stdout as JSON when it is JSON the API can answer, else text")
    stdout: str
    stderr: str
    duration_ms: int
    kill_reason: str
    truncated: bool
    backend: str
    audit_complete: bool
    error: str | None = Field(None, description="`output_invalid`: ran, output refused")
    message: str | None = Field(None, description="the first schema problem of the output")


class PendingCallOut(Answer):
    model_config = _example(
        {
            "status": "pending_approval",
            "call_id": "c_0196a1b2c3d4e5f6a7b8c9",
            "approval_id": "a_0196a1b2c3d4",
            "skill": "shell-run",
            "reasons": [{"code": "approval_required_shell", "message": "shell needs approval"}],
            "expires_at": "2026-01-01T00:15:00+00:00",
        }
    )
    status: Literal["pending_approval"]
    call_id: str
    approval_id: str
    skill: str
    reasons: list[Reason]
    expires_at: str


class SkillSummary(Answer):
    model_config = _example(
        {
            "name": "echo",
            "description": "Return the input unchanged.",
            "version": "1.0.0",
            "author": "nexflow",
            "source": "builtin",
            "executable": True,
            "runtime": "python",
            "permissions": [],
            "tags": ["demo"],
            "category": None,
            "emoji": None,
            "digest": "sha256:…",
        }
    )
    name: str
    description: str
    version: str | None
    author: str | None
    source: str
    executable: bool
    runtime: str | None
    permissions: list[str]
    tags: list[str]
    category: str | None
    emoji: str | None
    digest: str


class SkillListed(SkillSummary):
    input_schema: dict[str, Any] | None = Field(
        None, description="with `?schemas=1` (null otherwise)"
    )


class SkillDetail(SkillSummary):
    license: str | None
    compatibility: str | None
    homepage: str | None
    entrypoint: str | None
    image: str | None
    dockerfile: bool
    backend: str | None
    filesystem: list[dict[str, str]]
    network: list[str]
    timeout_sec: int
    max_output_kb: int
    allowed_tools: list[str]
    requirements: dict[str, list[str]]
    env_required: bool | list[str]
    os: list[str]
    install: list[Any]
    dialects: list[str]
    input_schema: dict[str, Any] | None
    output_schema: dict[str, Any] | None
    path_inputs: list[list[str]]
    network_inputs: list[str]
    metadata: dict[str, Any]
    instructions: str


class SkillProblem(Answer):
    """A skill folder that failed to load; `file` names the file (a string)."""

    file: str
    line: int
    field: str
    code: str
    message: str
    severity: str


class SkillList(Answer):
    skills: list[SkillListed]
    problems: list[SkillProblem]


class AuditEventOut(Answer):
    model_config = _example(
        {
            "seq": 42,
            "ts": "2026-01-01T00:00:00.000000Z",
            "action": "call.finished",
            "call_id": "c_0196a1b2c3d4e5f6a7b8c9",
            "actor": "admin",
            "skill": "echo",
            "decision": None,
            "reason_codes": [],
            "policy_revision": None,
            "payload": {"status": "succeeded"},
            "prev_hash": "…",
            "hash": "…",
        }
    )
    seq: int
    ts: str
    action: str
    call_id: str | None
    actor: str | None
    skill: str | None
    decision: str | None
    reason_codes: list[str]
    policy_revision: str | None
    payload: Any
    prev_hash: str
    hash: str


class AuditPage(Answer):
    events: list[AuditEventOut]
    next_before: int | None = Field(description="pass as `before` for the next page")


class VerifyOut(Answer):
    ok: bool
    checked: int
    first_bad_seq: int | None
    problem: str | None
    message: str
    head_seq: int | None
    head_hash: str | None
    checkpoints_checked: int
    last_checkpoint_seq: int | None
    last_checkpoint_ts: str | None
    checkpoint_line: int | None
    warnings: list[str]
    verified_at: str


class CallOutcome(Answer):
    status: str | None
    exit_code: int | None
    kill_reason: str | None
    output: Any
    stdout: str
    stderr: Any
    truncated: bool | None
    capped: bool
    error: str | None = None
    message: str | None = None


class CallStory(Answer):
    call_id: str
    skill: str | None
    status: str
    approval_id: str | None = None
    result: CallOutcome | None = None
    error: Any = None
    events: list[AuditEventOut]


class ApprovalOut(Answer):
    id: str
    call_id: str
    status: str
    principal: str
    skill: str
    skill_digest: str
    input_sha256: str
    input: Any
    grants: dict[str, Any]
    policy_revision: str
    reasons: list[Reason]
    created_at: str
    expires_at: str
    decided_at: str | None
    decided_by: str | None
    comment: str | None


class ApprovalList(Answer):
    approvals: list[ApprovalOut]


class ApprovalComment(BaseModel):
    model_config = _example({"comment": "looks fine"}, request=True)
    comment: str | None = Field(default=None, max_length=MAX_COMMENT)


class ExecutorHealth(Answer):
    name: str
    healthy: bool
    draining: bool
    slots_total: int = Field(description="0 = no limit")
    slots_busy: int
    inflight: int = Field(description="calls this control plane runs there now")
    executor_id: str = Field(description="empty: the executor serves the path contract")


class Health(Answer):
    model_config = _example(
        {
            "status": "ok",
            "executor": "serving",
            "sandbox": {"backend": "nsjail", "available": ["nsjail", "docker"]},
            "executors": [
                {
                    "name": "local",
                    "healthy": True,
                    "draining": False,
                    "slots_total": 0,
                    "slots_busy": 0,
                    "inflight": 0,
                    "executor_id": "",
                }
            ],
            "policy_revision": "sha256:…",
            "skills": 9,
        }
    )
    status: Literal["ok", "degraded"]
    executor: Literal["serving", "unreachable"]
    sandbox: dict[str, Any] | None
    executors: list[ExecutorHealth]
    policy_revision: str | None
    skills: int
