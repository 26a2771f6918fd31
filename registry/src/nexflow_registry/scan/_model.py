"""What a scan returns: findings (file, line, rule code, severity) and one verdict."""

from __future__ import annotations

from typing import Literal

from nexflow_control.skills import SkillAsks
from pydantic import BaseModel

Severity = Literal["warn", "block"]
Verdict = Literal["clean", "warn", "block"]


class Finding(BaseModel):
    file: str
    """POSIX path relative to the package's top"""
    line: int
    """1-based; 0 when the finding is about the whole file"""
    rule: str
    """a stable code, e.g. `curl_pipe_shell` or `lint:bad_value`"""
    severity: Severity
    message: str


class Requests(SkillAsks):
    """What a version asks for, in the shape of the control plane's consent (`SkillRequest`):
    what a human approves at install, and what an update must have re-approved."""

    # Fields and how they are read from SKILL.md: `SkillAsks`, shared with the control
    # plane's `SkillRequest`, so the two cannot disagree.


class ScanReport(BaseModel):
    verdict: Verdict
    findings: list[Finding]

    @classmethod
    def of(cls, findings: list[Finding]) -> ScanReport:
        ordered = sorted(findings, key=lambda f: (f.file, f.line, f.rule))
        worst: Verdict = "clean"
        if any(f.severity == "block" for f in ordered):
            worst = "block"
        elif ordered:
            worst = "warn"
        return cls(verdict=worst, findings=ordered)

    def blocking(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "block"]
