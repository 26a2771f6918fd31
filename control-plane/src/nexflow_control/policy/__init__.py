"""Policy decisions for skill calls: the engine protocol, the embedded engine, the decision."""

from ._bench import bench_decisions
from ._decision import (
    MALFORMED_INPUT,
    POLICY_UNDEFINED,
    Decision,
    DecisionFormatError,
    FilesystemGrant,
    Grants,
    Limits,
    Reason,
    parse_decision,
)
from ._embedded import EmbeddedEngine
from ._engine import ENTRYPOINT, PolicyEngine, ReloadResult
from ._errors import PolicyError, PolicyLoadError, PolicyUnavailable
from ._source import PolicySource, read_policy_dir

__all__ = [
    "ENTRYPOINT",
    "MALFORMED_INPUT",
    "POLICY_UNDEFINED",
    "Decision",
    "DecisionFormatError",
    "EmbeddedEngine",
    "FilesystemGrant",
    "Grants",
    "Limits",
    "PolicyEngine",
    "PolicyError",
    "PolicyLoadError",
    "PolicySource",
    "PolicyUnavailable",
    "Reason",
    "ReloadResult",
    "bench_decisions",
    "parse_decision",
    "read_policy_dir",
]
