"""The transparency log: an RFC 6962/9162 Merkle tree in the database, its proofs, and
its head as a signed C2SP checkpoint. `verify` and `checkpoint.parse_and_verify` are the
pure client-side checks."""

from . import _log as log
from .checkpoint import Checkpoint, CheckpointInvalid, parse_and_verify, verifier_key
from .verify import leaf_hash, node_hash, verify_consistency, verify_inclusion

__all__ = [
    "Checkpoint",
    "CheckpointInvalid",
    "leaf_hash",
    "log",
    "node_hash",
    "parse_and_verify",
    "verifier_key",
    "verify_consistency",
    "verify_inclusion",
]
