"""Policy decisions for skill calls: the engine protocol, the embedded and OPA server engines."""

from ._approver import APPROVER_ENTRYPOINT, ApproverDecision, parse_approver
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
from ._input import encode_input
from ._opa import OpaServerEngine
from ._opa_process import LocalOpaServer, OpaNotFound, OpaStartError, find_opa_binary
from ._source import PolicySource, policy_revision, read_policy_dir
from ._watch import PolicyWatcher

__all__ = [
    "APPROVER_ENTRYPOINT",
    "ENTRYPOINT",
    "MALFORMED_INPUT",
    "POLICY_UNDEFINED",
    "ApproverDecision",
    "Decision",
    "DecisionFormatError",
    "EmbeddedEngine",
    "FilesystemGrant",
    "Grants",
    "Limits",
    "LocalOpaServer",
    "OpaNotFound",
    "OpaServerEngine",
    "OpaStartError",
    "PolicyEngine",
    "PolicyError",
    "PolicyLoadError",
    "PolicySource",
    "PolicyUnavailable",
    "PolicyWatcher",
    "Reason",
    "ReloadResult",
    "bench_decisions",
    "encode_input",
    "find_opa_binary",
    "parse_approver",
    "parse_decision",
    "policy_revision",
    "read_policy_dir",
]
