"""The audit log: every step of a skill call and every refusal, hash-chained in the database.

    store.AuditLog      open / append / append_many / close (group commit);
                        transaction (a change and its events in one commit)
    append              Entry (an event ready to chain, payload encoded once), chain,
                        the insert statements; sqlite_writer / pg_writer: the raw-driver
                        writers the group commit hands its batches to
    records             AuditEvent (input), AuditRecord (stored), Decision, Action
    chain               canonical encoding and hash (how outsiders verify an export)
    redact              secret redaction and size caps, applied before storing
    query               query (filtered pages, newest first), tail (live)
    verify              verify (first broken seq); verify_with_checkpoints (and a
                        missing tail or a rewritten chain, against the checkpoints)
    checkpoint          signed head checkpoints: keys, the line format, the file
    checkpointer        Checkpointer (writes them while the control plane runs)
    models              the tables (this area's own `MetaData` in the shared `db.Database`)
    bench               bench_append (events/s, for `make bench`)

`AuditUnavailable` is `nexflow_control.errors.AuditUnavailable` (HTTP 503).
"""

from nexflow_common.secrets import REDACTED, is_secret_key, scrub_text

from ..errors import AuditUnavailable
from .chain import GENESIS_HASH, canonical_bytes, compute_hash
from .checkpoint import Checkpoint, CheckpointError
from .checkpointer import Checkpointer
from .query import MAX_LIMIT, AuditFilter, AuditPage, query, tail
from .records import Action, AuditEvent, AuditRecord, Decision
from .redact import redact
from .store import AuditLog, AuditTransaction
from .verify import Problem, VerifyReport, verify, verify_with_checkpoints

__all__ = [
    "GENESIS_HASH",
    "MAX_LIMIT",
    "REDACTED",
    "Action",
    "AuditEvent",
    "AuditFilter",
    "AuditLog",
    "AuditPage",
    "AuditRecord",
    "AuditTransaction",
    "AuditUnavailable",
    "Checkpoint",
    "CheckpointError",
    "Checkpointer",
    "Decision",
    "Problem",
    "VerifyReport",
    "canonical_bytes",
    "compute_hash",
    "is_secret_key",
    "query",
    "redact",
    "scrub_text",
    "tail",
    "verify",
    "verify_with_checkpoints",
]
