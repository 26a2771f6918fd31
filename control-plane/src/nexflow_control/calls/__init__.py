"""Calls: one skill call, from the request to its audited result.

    _service    CallService: run (resolve → validate → decide → audit → dispatch → audit),
                pend (approval required), refuse; run_approved / invalidate delegate
    _context    CallParts (the services a call goes through) and CallContext (one call)
    _approved   the approved-call path: re-decide, then dispatch or invalidate
    _dispatch   send to the executor; call.dispatched / call.egress / call.finished
    _requests   the checked input, the policy input and the execution spec (pure)
    _results    CallResult, PendingCall, ApprovalStale, parse_output, new_call_id, and
                the small helpers audit payloads are built from
    _history    CallHistory: recent decisions and versions that ran, from the audit log
    _recovery   end_interrupted_calls: calls a stopped control plane left unfinished

The modules import each other in one direction only (_service → _approved →
_dispatch → _context/_requests/_results); protobuf stays behind `executors/`.

Nothing is dispatched unless the events that say why it may run are committed first
("no audit, no execution"); every step that ends a call early is an audit event too.
"""

from ._context import CallContext, CallParts
from ._dispatch import Commit
from ._history import CallHistory
from ._recovery import end_interrupted_calls, unfinished_calls
from ._results import ApprovalStale, CallResult, PendingCall, new_call_id, parse_output
from ._service import CallService

__all__ = [
    "ApprovalStale",
    "CallContext",
    "CallHistory",
    "CallParts",
    "CallResult",
    "CallService",
    "Commit",
    "PendingCall",
    "end_interrupted_calls",
    "new_call_id",
    "parse_output",
    "unfinished_calls",
]
